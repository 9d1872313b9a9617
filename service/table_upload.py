"""A dataset upload (CSV with a header row, or Parquet) read by pyarrow into a table of text cells.

CSV: pyarrow's reader reads every cell as text, so the
typing is :mod:`service.tabular`'s, the same for every file, and nothing is guessed twice. The
rules of Python's ``csv`` module hold as before: rows whose cells are all blank are skipped, a row
with another number of cells than the header is refused naming its line. Parquet: the file's
columns are cast to text and typed by the same rules, so a CSV and its Parquet twin make the
same dataset. The 413 for a body over the server's limit comes before any of this (Werkzeug).
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from .csv_upload import Upload, _first_record
from .errors import InvalidRequest
from .tabular.columns import LineFinder
from .tabular.schema import UNNAMED

PARQUET_MAGIC = b"PAR1"
# pyarrow parses this much text at a time, on one thread: as fast as larger blocks on several
# (measured on 20 MB), and its read-ahead stays well under a MiB beside the table itself.
READ_BLOCK_BYTES = 1 << 16


class CsvLines(LineFinder):
    """The line of each data row, read by Python's ``csv`` module only when a problem names one."""

    def __init__(self, upload: Upload):
        super().__init__()
        self.upload = upload

    def line(self, row: int) -> int:
        if self.lines is None:
            self.lines = [line for number, (line, cells) in enumerate(self.upload.records())
                          if number > 0 and any(cell.strip() for cell in cells)]
        return self.lines[row]


def read_upload(source: BinaryIO, max_rows: int, max_features: int) -> tuple[pa.Table, LineFinder]:
    """The upload's columns by header name as trimmed text, blank rows dropped, and where each row is.

    Raises
    ------
    InvalidRequest
        An empty or unreadable file, a bad header, ragged rows, too many rows or columns.
    """
    source.seek(0)
    if source.read(4) == PARQUET_MAGIC:
        return _read_parquet(source, max_rows, max_features), LineFinder(header_lines=0)
    first = _first_record(source)
    if first is None:
        raise InvalidRequest([{"field": "file", "detail": "the file is empty; a header row is required"}])
    header_line, n_columns = first
    upload = Upload(source, n_columns)
    names = [f"c{index}" for index in range(n_columns)]
    source.seek(0)
    try:
        raw = pa_csv.read_csv(
            source,
            read_options=pa_csv.ReadOptions(column_names=names, block_size=READ_BLOCK_BYTES, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=upload._on_ragged),
            convert_options=pa_csv.ConvertOptions(column_types={name: pa.string() for name in names},
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid as error:
        raise upload._refusal(str(error)) from None
    header = [raw.column(index)[0].as_py().strip() for index in range(n_columns)]
    if header and header[0] == "":
        header[0] = UNNAMED  # pandas' df.to_csv() writes its index under an empty name.
    _check_header(header, header_line, max_features)
    cells = raw.columns
    del raw
    for index in range(n_columns):  # Each column's text goes as its trimmed copy comes: one column's worth at once.
        cells[index] = pc.utf8_trim_whitespace(cells[index].slice(1))
    blank = np.ones(len(cells[0]) if cells else 0, dtype=bool)
    for column in cells:
        blank &= pc.equal(pc.utf8_length(column), 0).to_numpy(zero_copy_only=False)
        if not blank.any():  # No row is blank in every column so far: none can be.
            break
    if blank.any():  # Python's reader skips a row whose cells are all blank, and so does this one.
        kept = pa.array(~blank)
        cells = [pc.filter(column, kept) for column in cells]
    table = pa.table(cells, names=header)
    _check_rows(table.num_rows, max_rows)
    return table, CsvLines(upload)


def release_text() -> None:
    """Give the memory of tables no longer held back to the system at once.

    pyarrow's allocator keeps freed memory for reuse: without this, the text of an upload
    would stay resident (some 1.5 times the file) beside the blob made next.
    """
    pa.default_memory_pool().release_unused()


def _read_parquet(source: BinaryIO, max_rows: int, max_features: int) -> pa.Table:
    import pyarrow.parquet as pq  # Only uploads of Parquet pay for importing it.

    source.seek(0)
    try:
        parquet = pq.read_table(source)
    except (pa.ArrowException, OSError, ValueError) as error:  # Whatever a damaged file makes pyarrow raise.
        raise InvalidRequest([{"field": "file", "detail": f"not a readable Parquet file: {error}"}]) from None
    header = [UNNAMED if name in ("", "__index_level_0__") else name for name in parquet.column_names]
    _check_header(header, None, max_features)
    _check_rows(parquet.num_rows, max_rows)
    columns = []
    for name, column in zip(header, parquet.columns):
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S") if pa.types.is_timestamp(column.type) \
                else pc.cast(column, pa.string())
        elif pa.types.is_boolean(column.type) or pa.types.is_integer(column.type) or \
                pa.types.is_floating(column.type) or pa.types.is_string(column.type) or \
                pa.types.is_large_string(column.type) or pa.types.is_dictionary(column.type):
            text = pc.cast(pc.cast(column, pa.string()) if pa.types.is_dictionary(column.type) else column, pa.string())
        else:
            raise InvalidRequest([{"field": "file", "column": name, "detail": f"column '{name}' is Parquet "
                                   f"{column.type}; numbers, booleans, text and dates are read"}])
        # A null is a missing cell, as an empty CSV cell is; NaN floats print as 'nan', also missing.
        columns.append(pc.utf8_trim_whitespace(pc.fill_null(text, "")))
    return pa.table(columns, names=header)


def _check_rows(n_rows: int, max_rows: int) -> None:
    if n_rows == 0:
        raise InvalidRequest([{"field": "file", "detail": "no data rows below the header"}])
    if n_rows > max_rows:
        raise InvalidRequest([{"field": "file", "detail": f"at most {max_rows} rows (limit max_rows)"}])


def _check_header(header: list[str], line: int | None, max_features: int) -> None:
    problems = []
    if any(not name for name in header):
        problems.append("every column needs a name (only the first may be empty: pandas' index)")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        problems.append(f"duplicate column names: {', '.join(duplicates)}")
    if len(header) < 2:
        problems.append("needs at least one feature column besides the target")
    if len(header) - 1 > max_features:
        problems.append(f"at most {max_features} feature columns (limit max_features), got {len(header) - 1}")
    if problems:
        raise InvalidRequest([{"field": "file", "row": line, "detail": f"header: {problem}"} for problem in problems])
