"""CSV in: dataset uploads (header row required) and predict bodies (header optional).

Numbers are read strictly: ``float()`` alone would also take ``nan``, ``inf`` and ``1_000``.
Every refusal names where it is: the form field, the 1-based line and the column.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass

import numpy as np

from .errors import InvalidRequest

NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
INTEGER = re.compile(r"[+-]?\d+")
NON_FINITE = re.compile(r"[+-]?(?:nan|inf(?:inity)?)", re.IGNORECASE)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class CsvTable:
    """An uploaded dataset: ``features`` (n_samples, n_features) float64, ``targets`` (n_samples,)
    int64 or float64, or a list of string labels, and the feature columns' names."""

    features: np.ndarray
    targets: np.ndarray | list[str]
    feature_names: list[str]


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


def read_dataset_csv(raw: bytes, target: str, max_rows: int, max_features: int, max_label_length: int) -> CsvTable:
    """Parse an uploaded dataset whose first row names the columns; ``target`` is one of them.

    Raises
    ------
    InvalidRequest
        Naming the form field (``file`` or ``target``), line and column of what is wrong.
    """
    place = {"field": "file"}
    rows = _rows(_text(raw, place), place)
    first = next(rows, None)
    if first is None:
        raise InvalidRequest([{"field": "file", "detail": "the file is empty; a header row is required"}])
    header_line, header = first[0], [name.strip() for name in first[1]]
    _check_header(header, header_line, target, max_features)
    target_index = header.index(target)
    feature_names = [name for index, name in enumerate(header) if index != target_index]
    features, labels = [], []
    for line, cells in rows:
        if len(cells) != len(header):
            raise InvalidRequest([{"field": "file", "row": line,
                                   "detail": f"line {line} has {len(cells)} cells, the header has {len(header)}"}])
        if len(features) == max_rows:
            raise InvalidRequest([{"field": "file", "detail": f"at most {max_rows} rows (limit max_rows)"}])
        row = []
        for index, cell in enumerate(cells):
            if index == target_index:
                labels.append((line, cell.strip()))
                continue
            try:
                row.append(parse_number(cell))
            except CellError as error:
                raise InvalidRequest([{"field": "file", "row": line, "column": header[index],
                                       "detail": f"line {line}, column '{header[index]}': {error}"}]) from None
        features.append(row)
    if not features:
        raise InvalidRequest([{"field": "file", "detail": "no data rows below the header"}])
    return CsvTable(np.asarray(features, dtype=np.float64), _target_column(labels, target, max_label_length), feature_names)


def _check_header(header: list[str], line: int, target: str, max_features: int) -> None:
    if target not in header:
        raise InvalidRequest([{"field": "target", "detail": f"no column '{target}' in the header "
                               f"({', '.join(header)})"}])
    problems = []
    if any(not name for name in header):
        problems.append("every column needs a name")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        problems.append(f"duplicate column names: {', '.join(duplicates)}")
    if len(header) < 2:
        problems.append("needs at least one feature column besides the target")
    if len(header) - 1 > max_features:
        problems.append(f"at most {max_features} feature columns (limit max_features), got {len(header) - 1}")
    if problems:
        raise InvalidRequest([{"field": "file", "row": line, "detail": f"header: {problem}"} for problem in problems])


def _target_column(labels: list[tuple[int, str]], target: str, max_label_length: int) -> np.ndarray | list[str]:
    """Integers stay integers (class labels), other numbers are floats, anything else strings.

    The same rule as JSON targets, so a CSV and its JSON twin make the same dataset.
    ``labels`` holds (line, text) of each target cell.
    """
    for line, label in labels:
        # An empty, NaN or infinite target is missing data, not a class called "nan".
        if not label or NON_FINITE.fullmatch(label):
            raise InvalidRequest([{"field": "file", "row": line, "column": target,
                                   "detail": f"line {line}, column '{target}': '{label}' is not a usable target"}])
    texts = [label for _, label in labels]
    if all(INTEGER.fullmatch(text) for text in texts):
        for line, text in labels:
            # Python refuses int() past 4300 digits; anything past 20 is outside int64 anyway.
            if len(text.lstrip("+-")) > 20 or not INT64_MIN <= int(text) <= INT64_MAX:
                raise InvalidRequest([{"field": "file", "row": line, "column": target,
                                       "detail": f"line {line}, column '{target}': integer labels must fit in 64 bits"}])
        return np.asarray([int(text) for text in texts], dtype=np.int64)
    elif all(NUMBER.fullmatch(text) for text in texts):
        for line, text in labels:
            if not math.isfinite(float(text)):
                raise InvalidRequest([{"field": "file", "row": line, "column": target,
                                       "detail": f"line {line}, column '{target}': '{text}' is too large for a 64-bit float"}])
        return np.asarray([float(text) for text in texts], dtype=np.float64)
    for line, text in labels:
        if len(text) > max_label_length:
            raise InvalidRequest([{"field": "file", "row": line, "column": target,
                                   "detail": f"line {line}, column '{target}': a label of {len(text)} characters; "
                                   f"at most {max_label_length} (limit max_label_length)"}])
    return texts


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
