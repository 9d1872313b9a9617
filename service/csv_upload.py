"""What :mod:`service.table_upload` needs of an uploaded CSV besides pyarrow's reading of it:
the header record and the line numbers Python's ``csv`` module would give the records
(:class:`Upload`), and the refusals that name where a file stops being CSV or UTF-8.

pyarrow does not say on which line a record is: a refusal that names a line (rare, and bounded
like the upload) reads the file again with Python's ``csv`` module to count the lines.
"""

from __future__ import annotations

import codecs
import csv
import io
from typing import BinaryIO, Iterator

from .errors import InvalidRequest

BLOCK_BYTES = 1 << 20  # Reading the file again (counting lines, finding bad UTF-8) a block at a time.


class Upload:
    """The file as pyarrow reads it, ``n_columns`` cells a record: its ragged-row handler, its
    refusals, and its records as Python's ``csv`` module reads them (:meth:`records`)."""

    def __init__(self, source: BinaryIO, n_columns: int):
        self.source = source
        self.n_columns = n_columns
        self.ragged = False  # A row with the wrong number of cells that is not blank.

    def _on_ragged(self, row) -> str:
        # Python's reader skips a row whose cells are all blank, however many there are.
        cells = next(csv.reader(io.StringIO(row.text, newline="")), [])
        if not any(cell.strip() for cell in cells):
            return "skip"
        self.ragged = True
        return "error"

    def _refusal(self, arrow_message: str) -> InvalidRequest:
        if self.ragged:
            line, cells = next((line, cells) for line, cells in self.records() if len(cells) != self.n_columns)
            return InvalidRequest([{"field": "file", "row": line, "detail": f"line {line} has {len(cells)} "
                                    f"cells, the header has {self.n_columns}"}])
        if "UTF8" in arrow_message:
            return _not_utf8(self.source)
        return _not_csv(self.source, arrow_message)

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """(line, cells) of each record pyarrow yields, read by Python's ``csv`` module."""
        self.source.seek(0)
        text = io.TextIOWrapper(self.source, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            for cells in reader:
                if cells and (len(cells) == self.n_columns or any(cell.strip() for cell in cells)):
                    yield reader.line_num, cells
        finally:
            text.detach()  # The upload stays open for the next reading.


def _first_record(source: BinaryIO) -> tuple[int, list[str], int] | None:
    """(line, cells, records read) of the first record pyarrow will see (the header), None for none.

    ``records read`` counts the empty lines before it too, as pyarrow's ``skip_rows_after_names`` does.
    """
    source.seek(0)
    text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        for records, cells in enumerate(reader, start=1):
            if cells:
                return reader.line_num, cells, records
        return None
    except UnicodeDecodeError:
        raise _not_utf8(source) from None
    except csv.Error as error:
        raise InvalidRequest([{"field": "file", "detail": f"line {reader.line_num}: not valid CSV: {error}"}]) from None
    finally:
        text.detach()


def _not_utf8(source: BinaryIO) -> InvalidRequest:
    """Where the file stops being UTF-8, read again a block at a time."""
    source.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    offset = 0
    while block := source.read(BLOCK_BYTES):
        try:
            decoder.decode(block)
        except UnicodeDecodeError as error:
            return InvalidRequest([{"field": "file", "detail": f"not UTF-8 text ({error.reason} at byte "
                                    f"{offset + error.start})"}])
        offset += len(block)
    return InvalidRequest([{"field": "file", "detail": "not UTF-8 text (it ends inside a character)"}])


def _not_csv(source: BinaryIO, arrow_message: str) -> InvalidRequest:
    """What Python's reader finds wrong where pyarrow refused the file for another reason."""
    source.seek(0)
    text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        for _ in reader:
            pass
    except csv.Error as error:
        return InvalidRequest([{"field": "file", "detail": f"line {reader.line_num}: not valid CSV: {error}"}])
    except UnicodeDecodeError:
        return _not_utf8(source)
    finally:
        text.detach()
    return InvalidRequest([{"field": "file", "detail": f"not valid CSV: {arrow_message}"}])
