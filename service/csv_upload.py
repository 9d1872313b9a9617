"""An uploaded CSV file as pyarrow reads it, every cell text (:class:`Upload`), with the line
numbers Python's ``csv`` module would give its records; :mod:`service.table_upload` types the
columns (:mod:`service.tabular`).

pyarrow's CSV reader parses the file a block at a time, so the peak is the columns' own size plus
a few blocks, not a Python object per cell. Rows whose cells are all blank are skipped, as
Python's ``csv`` module and JSON bodies have it. pyarrow does not say on which line a record is:
a refusal that names a line (rare, and bounded like the upload) reads the file again with
Python's ``csv`` module to count the lines.
"""

from __future__ import annotations

import codecs
import csv
import io
from typing import BinaryIO, Iterator

import pyarrow as pa
import pyarrow.csv as pa_csv

from .errors import InvalidRequest

BLOCK_BYTES = 1 << 20  # Reading the file again (counting lines, finding bad UTF-8) a block at a time.
# pyarrow parses this much text at a time, and reads ahead a number of such blocks (about 12 MiB
# at 64 KiB, 40 MiB at 1 MiB, measured with pyarrow 26): small blocks keep that overhead small.
PARSE_BLOCK_BYTES = 1 << 16


class Upload:
    """The file as pyarrow reads it: every column text, blank lines skipped, records numbered from
    0 (the header); :meth:`line_of` gives the line Python's ``csv`` module would name."""

    def __init__(self, source: BinaryIO, n_columns: int):
        self.source = source
        self.n_columns = n_columns
        self.ragged = False  # A row with the wrong number of cells that is not blank.

    def batches(self) -> Iterator[pa.RecordBatch]:
        names = [f"c{index}" for index in range(self.n_columns)]
        self.source.seek(0)
        try:
            reader = pa_csv.open_csv(
                self.source,
                read_options=pa_csv.ReadOptions(column_names=names, use_threads=False, block_size=PARSE_BLOCK_BYTES),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=self._on_ragged),
                convert_options=pa_csv.ConvertOptions(column_types={name: pa.string() for name in names},
                                                      strings_can_be_null=False, quoted_strings_can_be_null=False))
            with reader:
                yield from reader
        except pa.ArrowInvalid as error:
            raise self._refusal(str(error)) from None

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

    def line_of(self, record: int) -> int:
        """The line (1-based, where the record ends) of record ``record``."""
        return next(line for number, (line, _) in enumerate(self.records()) if number == record)

    def line_of_data_row(self, row: int) -> int:
        """The line of the ``row``-th data row (0-based), not counting blank rows."""
        data_rows = (line for number, (line, cells) in enumerate(self.records())
                     if number > 0 and any(cell.strip() for cell in cells))
        return next(line for index, line in enumerate(data_rows) if index == row)


def _first_record(source: BinaryIO) -> tuple[int, int] | None:
    """(line, cells) count of the first record pyarrow will see (the header), None for none."""
    source.seek(0)
    text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        for cells in reader:
            if cells:
                return reader.line_num, len(cells)
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
