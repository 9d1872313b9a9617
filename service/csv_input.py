"""CSV in: what a number is, and predict bodies (header optional); dataset uploads are
:mod:`service.tabular`.

Numbers are read strictly: ``float()`` alone would also take ``nan``, ``inf`` and ``1_000``.
Every refusal names where it is: the 1-based line and the cell.
"""

from __future__ import annotations

import csv
import io
import math
import re

from .errors import InvalidRequest

NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
INTEGER = re.compile(r"[+-]?\d+")
NON_FINITE = re.compile(r"[+-]?(?:nan|inf(?:inity)?)", re.IGNORECASE)


class CellError(ValueError):
    """A cell that is not a finite number."""


def parse_number(cell: str) -> float:
    text = cell.strip()
    if NON_FINITE.fullmatch(text):
        raise CellError(f"'{cell}' is not a finite number")
    if NUMBER.fullmatch(text) is None:
        raise CellError(f"'{cell}' is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise CellError(f"'{cell}' is too large for a 64-bit float")
    return value


def _text(raw: bytes, place: dict) -> str:
    try:
        return raw.decode("utf-8-sig")  # Spreadsheets often start UTF-8 files with a BOM.
    except UnicodeDecodeError as error:
        raise InvalidRequest([{**place, "detail": f"not UTF-8 text ({error.reason} at byte {error.start})"}]) from None


def _rows(text: str, place: dict):
    """(line number, cells) of each row that is not blank."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield reader.line_num, cells
    except csv.Error as error:
        raise InvalidRequest([{**place, "detail": f"line {reader.line_num}: not valid CSV: {error}"}]) from None


def read_predict_csv(raw: bytes) -> list[list[float]]:
    """Rows of numbers for predict; a first row that is not all numbers is taken as a header.

    Raises
    ------
    InvalidRequest
        Naming the cell as ``/inputs/<row>/<column>`` (0-based, header excluded), as for JSON.
    """
    place = {"pointer": ""}
    rows = list(_rows(_text(raw, place), place))
    if rows and not all(NUMBER.fullmatch(cell.strip()) or NON_FINITE.fullmatch(cell.strip()) for cell in rows[0][1]):
        rows = rows[1:]
    inputs = []
    for row_index, (line, cells) in enumerate(rows):
        values = []
        for column_index, cell in enumerate(cells):
            try:
                values.append(parse_number(cell))
            except CellError as error:
                raise InvalidRequest([{"pointer": f"/inputs/{row_index}/{column_index}",
                                       "detail": f"line {line}: {error}"}]) from None
        inputs.append(values)
    return inputs
