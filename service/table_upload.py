"""A dataset upload (CSV with a header row, or Parquet) read by pyarrow into a table of columns.

CSV: pyarrow's streaming reader types the columns as it parses them, a block at a time: numbers
(int64, float64), ``True``/``False`` (pandas' spelling) and ISO dates arrive as typed arrays, an
empty cell as null, and :mod:`service.tabular` takes them as they are. Every other column arrives
as trimmed text and is typed by :mod:`service.tabular`'s rules, and so is a typed column whose
cells could mean something those rules do not take (``nan``, ``inf``, a number past float64, hex
like ``0x10``, which pyarrow reads as 16): those are read again as text, so the dataset is the
one the rules alone make. A file whose later blocks do not fit the types pyarrow gave the first
is read as text throughout. The target and overridden columns are read as text from the start.

The rules of Python's ``csv`` module hold as before: rows whose cells are all blank are skipped,
a row with another number of cells than the header is refused naming its line. Parquet: its
whole-number, float64 (NaN as missing), boolean and date columns, and timestamps all at midnight,
are taken as typed, under the same checks as the CSV's; the others (float32, text, times of day,
...) are cast to text and typed by the rules, so a CSV and its Parquet twin make the same
dataset. The 413 for a body over the server's limit comes before any of this (Werkzeug).
"""

from __future__ import annotations

from typing import BinaryIO, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from .csv_upload import Upload, _first_record
from .errors import InvalidRequest
from .tabular.columns import LineFinder, named_like_an_id
from .tabular.schema import UNNAMED

PARQUET_MAGIC = b"PAR1"
# pyarrow parses this much text at a time: the table (smaller than the file once typed) and a
# few blocks are the peak. Larger blocks, or pyarrow's whole-file reader on every core, parse
# 20 MB up to twice as fast but hold the whole file's parsed text till the end (twice the peak).
READ_BLOCK_BYTES = 1 << 16
# pandas' own spelling of booleans. Other spellings (true, TRUE) are read as text and typed by
# the rules, which take any case: a column mixing spellings must not count as two values here.
TRUE_CELLS, FALSE_CELLS = ["True"], ["False"]


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


def read_upload(source: BinaryIO, max_rows: int, max_features: int,
                text_columns: Iterable[str] = ()) -> tuple[pa.Table, LineFinder]:
    """The upload's columns by (trimmed) header name, blank rows dropped, and where each row is.

    Each column is typed (int64, float64, bool or date32, nulls where a cell is empty) or trimmed
    text (string); those named in ``text_columns`` are text.

    Raises
    ------
    InvalidRequest
        An empty or unreadable file, a bad header, ragged rows, too many rows or columns.
    """
    source.seek(0)
    if source.read(4) == PARQUET_MAGIC:
        return _read_parquet(source, max_rows, max_features, set(text_columns)), LineFinder(header_lines=0)
    first = _first_record(source)
    if first is None:
        raise InvalidRequest([{"field": "file", "detail": "the file is empty; a header row is required"}])
    header_line, header_cells, header_records = first
    header = [name.strip() for name in header_cells]
    if header and header[0] == "":
        header[0] = UNNAMED  # pandas' df.to_csv() writes its index under an empty name.
    _check_header(header, header_line, max_features)
    upload = Upload(source, len(header))
    names = [f"c{index}" for index in range(len(header))]
    wanted_text = set(text_columns)
    as_text = [code for code, name in zip(names, header) if name in wanted_text]
    typed = _parse(source, upload, names, header_records, as_text, typed=True)
    if typed is None:  # pyarrow's typing by the first block does not hold further down: all text.
        typed = _parse(source, upload, names, header_records, names, typed=False)
    # Only numbers can be hex read as numbers: a file without number columns is not scanned.
    hex_written = any(pa.types.is_int64(column.type) or pa.types.is_float64(column.type)
                      for column in typed.columns) and _mentions_hex(source)
    again = [code for code, name, column in zip(names, header, typed.columns)
             if not _typed_as_the_rules_would(name, column, hex_written)]
    columns = dict(zip(names, typed.columns))
    del typed
    if again:
        columns.update(zip(again, _parse(source, upload, again, header_records, again, typed=False,
                                         all_names=names).columns))
    cells = [columns.pop(code) for code in names]
    for index, column in enumerate(cells):  # Each text column goes as its trimmed copy comes.
        if pa.types.is_string(column.type):
            cells[index] = pc.utf8_trim_whitespace(column)
    blank = _blank_rows(cells)
    if blank is not None:  # Python's reader skips a row whose cells are all blank, and so does this one.
        kept = pa.array(~blank)
        cells = [pc.filter(column, kept) for column in cells]
    table = pa.table(cells, names=header)
    _check_rows(table.num_rows, max_rows)
    return table, CsvLines(upload)


def _parse(source: BinaryIO, upload: Upload, names: list[str], header_records: int, as_text: list[str],
           typed: bool, all_names: list[str] | None = None) -> pa.Table | None:
    """The data rows of the CSV: columns ``names`` (of ``all_names``, by default those), ``as_text``
    as text with empty cells empty, the others typed by pyarrow (empty cells null) if ``typed``.

    A block at a time, so the peak is the table and a few blocks. pyarrow types each column by
    the first block; None when a later block does not fit (a column of whole numbers with a
    fraction further down, say): the caller reads the columns as text then.
    """
    source.seek(0)
    try:
        reader = pa_csv.open_csv(
            source,
            read_options=pa_csv.ReadOptions(column_names=all_names or names, skip_rows_after_names=header_records,
                                            block_size=READ_BLOCK_BYTES, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=upload._on_ragged),
            convert_options=pa_csv.ConvertOptions(
                include_columns=names, column_types={name: pa.string() for name in as_text},
                null_values=[""] if typed else [], true_values=TRUE_CELLS, false_values=FALSE_CELLS,
                strings_can_be_null=False, quoted_strings_can_be_null=False))
        with reader:
            return pa.Table.from_batches(list(reader), schema=reader.schema)
    except pa.ArrowInvalid as error:
        message = str(error)
        if typed and not upload.ragged and "UTF8" not in message and "conversion error" in message:
            return None
        raise upload._refusal(message) from None


def _mentions_hex(source: BinaryIO) -> bool:
    """Whether the file holds ``0x`` or ``0X`` anywhere, read a block at a time.

    By NumPy over the bytes: ``b"0x" in block`` is three times slower on numbers, where every
    ``0`` starts a match to try.
    """
    source.seek(0)
    before = 0  # The byte before the block: the last of the one before.
    while block := source.read(READ_BLOCK_BYTES):
        codes = np.frombuffer(block, dtype=np.uint8)
        marks = np.flatnonzero((codes | 0x20) == ord("x"))  # x or X.
        if len(marks):
            previous = np.where(marks > 0, codes[np.maximum(marks - 1, 0)], before)
            if (previous == ord("0")).any():
                return True
        before = codes[-1]
    return False


def _typed_as_the_rules_would(name: str, column: pa.ChunkedArray, hex_written: bool) -> bool:
    """Whether pyarrow's typing of ``column`` is what :mod:`service.tabular`'s rules make of its text.

    Text is (the rules type it). Numbers are, unless the file may hold hex, or a cell was
    ``nan``/``inf`` or past float64 (the rules name such cells), or the column is named like
    an id with whole numbers one of which pyarrow read as a float (``+5``, ``5.0``: the rules
    read the text to tell). True/False and dates are. Anything else pyarrow makes (times,
    columns of empty cells) is read as text.
    """
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_boolean(kind) or pa.types.is_date32(kind):
        return True
    if pa.types.is_int64(kind):
        return not hex_written
    if pa.types.is_float64(kind):
        if hex_written or not _holds_for_all(pc.is_finite(column)):
            return False
        return not (named_like_an_id(name) and _holds_for_all(pc.equal(pc.floor(column), column)))
    return False


def _holds_for_all(flags: pa.ChunkedArray) -> bool:
    """Whether every flag that is not null is true (empty cells are nulls)."""
    return pc.all(flags).as_py() is not False


def _blank_rows(cells: list[pa.ChunkedArray]) -> np.ndarray | None:
    """(n_rows,) bool: the rows whose every cell is blank (null, or empty text), None for none."""
    blank = None
    for column in cells:
        empty = (pc.equal(pc.utf8_length(column), 0) if pa.types.is_string(column.type) else pc.is_null(column))
        blank = empty.to_numpy() if blank is None else blank & empty.to_numpy()
        if not blank.any():  # No row is blank in every column so far: none can be.
            return None
    return blank


def release_text() -> None:
    """Give the memory of tables no longer held back to the system at once.

    pyarrow's allocator keeps freed memory for reuse: without this, the text of an upload
    would stay resident (some 1.5 times the file) beside the blob made next.
    """
    pa.default_memory_pool().release_unused()


def _read_parquet(source: BinaryIO, max_rows: int, max_features: int, text_columns: set[str]) -> pa.Table:
    """The Parquet file's columns, typed as :func:`_typed_parquet` keeps them, else as trimmed text
    (nulls empty); those named in ``text_columns`` are text."""
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
        typed = None if name in text_columns else _typed_parquet(name, column)
        columns.append(_parquet_text(name, column) if typed is None else typed)
    return pa.table(columns, names=header)


def _typed_parquet(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """``column`` typed as the CSV reader keeps a typed column (int64, float64, bool, date32, nulls
    missing), or None for a column to read as text.

    A float64 NaN is a missing cell, as a ``nan`` cell is to the rules; timestamps all at midnight
    (how pandas stores dates) are dates. float32 goes through text: its shortest decimal (``0.1``)
    is what its CSV twin holds, and not the float64 it widens to.
    Integers past int64 (uint64), a column without a value, and whatever the CSV reader would read
    again as text (infinities, an id-named column of whole floats) go through text too.
    """
    kind = column.type
    if pa.types.is_integer(kind) and not pa.types.is_uint64(kind):
        typed = pc.cast(column, pa.int64())
    elif pa.types.is_float64(kind):
        typed = pc.if_else(pc.is_nan(column), pa.scalar(None, pa.float64()), column)
    elif pa.types.is_boolean(kind) or pa.types.is_date32(kind):
        typed = column
    elif pa.types.is_timestamp(kind) and kind.tz is None:
        # pandas writes dates as timestamps at midnight: those are dates, as their CSV twin's cells are.
        typed = pc.cast(column, pa.date32(), safe=False)
        if not _holds_for_all(pc.equal(pc.cast(typed, kind), column)):
            return None  # Times of day: the rules read the date-times from their text.
    else:
        return None
    if typed.null_count == len(typed) or not _typed_as_the_rules_would(name, typed, hex_written=False):
        return None
    return typed


def _parquet_text(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` as trimmed text, a null an empty cell (a missing one, as in a CSV)."""
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
    # NaN floats print as 'nan': missing to the rules too.
    return pc.utf8_trim_whitespace(pc.fill_null(text, ""))


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
