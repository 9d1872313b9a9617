"""A dataset upload as CSV (header row required): streamed through pyarrow into typed arrays.

pyarrow's CSV reader parses the file a block at a time with every cell as text; each block's
cells are checked against the strict patterns of :mod:`service.csv_input` and cast, column by
column, into float64. The peak is therefore the features' own size plus a few blocks, not a
Python object per cell (which cost 13 times the body and more). The rules are those of Python's
``csv`` module and of JSON bodies: rows whose cells are all blank are skipped, no ``nan``,
``inf`` or ``1_000``, integer targets are class labels and other numbers values.

pyarrow does not say on which line a record is. A refusal that names a line (rare, and bounded
like the upload) reads the file again with Python's ``csv`` module to count the lines.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from typing import BinaryIO, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from .csv_input import INTEGER, NON_FINITE, NUMBER
from .errors import InvalidRequest
from .storage import ClassLabels

# Python's patterns for pyarrow's RE2, on cells already trimmed of white space. RE2's \d is ASCII
# only, where Python's takes other scripts' digits too: an upload takes ASCII digits only.
NUMBER_PATTERN = f"^(?:{NUMBER.pattern})$"
INTEGER_PATTERN = f"^(?:{INTEGER.pattern})$"
NON_FINITE_PATTERN = f"(?i)^(?:{NON_FINITE.pattern})$"
INT64_DIGITS = 20  # Past 20 digits (leading zeros allowed) no integer label fits in 64 bits.
BLOCK_BYTES = 1 << 20  # Reading the file again (counting lines, finding bad UTF-8) a block at a time.
# pyarrow parses this much text at a time, and reads ahead a number of such blocks (about 12 MiB
# at 64 KiB, 40 MiB at 1 MiB, measured with pyarrow 26): small blocks keep that overhead small.
PARSE_BLOCK_BYTES = 1 << 16


@dataclass(frozen=True)
class CsvTable:
    """An uploaded dataset: ``features`` (n_samples, n_features) float64, ``targets`` (n_samples,)
    int64 or float64, or string labels as class indices, and the feature columns' names."""

    features: np.ndarray
    targets: np.ndarray | ClassLabels
    feature_names: list[str]


def read_dataset_csv(source: BinaryIO, target: str, max_rows: int, max_features: int,
                     max_label_length: int) -> CsvTable:
    """Parse an uploaded dataset whose first row names the columns; ``target`` is one of them.

    ``source`` is a seekable binary file (Werkzeug spools a large upload to disk).

    Raises
    ------
    InvalidRequest
        Naming the form field (``file`` or ``target``), line and column of what is wrong.
    """
    first = _first_record(source)
    if first is None:
        raise InvalidRequest([{"field": "file", "detail": "the file is empty; a header row is required"}])
    header_line, n_columns = first
    n_lines = _count_lines(source)  # Before pyarrow reads: both move the file's position.
    upload = Upload(source, n_columns)
    batches = upload.batches()
    try:
        header_batch = next(batches)
        header = [header_batch.column(index)[0].as_py().strip() for index in range(n_columns)]
        _check_header(header, header_line, target, max_features)
        target_index = header.index(target)
        feature_names = [name for index, name in enumerate(header) if index != target_index]
        # Room for a row per line: pages never written are never resident, so the unused tail costs
        # address space only, and no chunk is copied into a final array.
        features = np.empty((n_lines, len(feature_names)), dtype=np.float64)
        labels, n_rows = [], 0
        feature_columns = [index for index in range(n_columns) if index != target_index]
        for batch, first_record in _data_batches(header_batch, batches):
            # One call per step for the whole batch: the columns end to end, each batch.num_rows long.
            raw = pa.concat_arrays([batch.column(index) for index in feature_columns])
            cells = pc.utf8_trim_whitespace(raw)
            target_cells = pc.utf8_trim_whitespace(batch.column(target_index))
            empty = pc.equal(pc.utf8_length(cells), 0).to_numpy(zero_copy_only=False).reshape(len(feature_columns), -1)
            # Python's reader skips a row whose cells are all blank, and so does this one.
            blank = empty.all(axis=0) & (pc.utf8_length(target_cells).to_numpy(zero_copy_only=False) == 0)
            kept = ~blank
            n_kept = int(kept.sum())
            if n_rows + n_kept > max_rows:
                raise InvalidRequest([{"field": "file", "detail": f"at most {max_rows} rows (limit max_rows)"}])
            features[n_rows : n_rows + n_kept] = _feature_values(raw, cells, kept, first_record,
                                                                 [header[index] for index in feature_columns])
            n_rows += n_kept
            labels.append(pc.filter(target_cells, pa.array(kept)))
    except BadCell as bad:
        batches.close()  # pyarrow reads ahead on its own threads: done before the file is read again.
        raise _cell_error(upload.line_of(bad.record), bad.column, bad.problem) from None
    finally:
        batches.close()  # Closes pyarrow's reader too, when a refusal stops the reading early.
    if n_rows == 0:
        raise InvalidRequest([{"field": "file", "detail": "no data rows below the header"}])
    targets = _target_column(upload, pa.chunked_array(labels, pa.string()), target, max_label_length)
    return CsvTable(features[:n_rows], targets, feature_names)


class BadCell(ValueError):
    """A feature cell that is not a finite number: its record, column name and what is wrong."""

    def __init__(self, record: int, column: str, problem: str):
        super().__init__(problem)
        self.record, self.column, self.problem = record, column, problem


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


def _data_batches(header_batch: pa.RecordBatch, batches) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Each batch of data records with the number of its first record (the header is record 0)."""
    if header_batch.num_rows > 1:
        yield header_batch.slice(1), 1
    first_record = header_batch.num_rows
    for batch in batches:
        yield batch, first_record
        first_record += batch.num_rows


def _feature_values(raw: pa.Array, cells: pa.Array, kept: np.ndarray, first_record: int,
                    names: list[str]) -> np.ndarray:
    """The kept rows of a batch's feature columns as (n_kept, n_features) float64, or the refusal
    naming the first bad cell (by row, then column) as a :class:`BadCell`.

    ``raw`` holds the columns end to end as written, ``cells`` the same trimmed, ``kept``
    (n_rows,) the rows that are not blank.
    """
    n_features = len(names)
    number = pc.match_substring_regex(cells, NUMBER_PATTERN).to_numpy(zero_copy_only=False)
    bad = ~number.reshape(n_features, -1) & kept
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=0))[0])
        column = int(np.flatnonzero(bad[:, row])[0])
        text = raw[column * len(kept) + row].as_py()
        problem = "is not a finite number" if NON_FINITE.fullmatch(text.strip()) else "is not a number"
        raise BadCell(first_record + row, names[column], f"'{text}' {problem}")
    values = pc.cast(pc.filter(cells, pa.array(np.tile(kept, n_features))), pa.float64())
    values = values.to_numpy(zero_copy_only=False).reshape(n_features, -1).T
    if not np.isfinite(values).all():
        kept_row, column = (int(index) for index in np.argwhere(~np.isfinite(values))[0])
        row = int(np.flatnonzero(kept)[kept_row])
        raise BadCell(first_record + row, names[column],
                      f"'{raw[column * len(kept) + row].as_py()}' is too large for a 64-bit float")
    return values


def _target_column(upload: Upload, labels: pa.ChunkedArray, target: str,
                   max_label_length: int) -> np.ndarray | ClassLabels:
    """Integers stay integers (class labels), other numbers are floats, anything else strings.

    The same rule as JSON targets, so a CSV and its JSON twin make the same dataset.
    ``labels`` holds the trimmed target cell of every data row.
    """
    def refuse(row: int, problem: str) -> InvalidRequest:
        return _cell_error(upload.line_of_data_row(row), target, problem)

    # An empty, NaN or infinite target is missing data, not a class called "nan".
    unusable = pc.or_(pc.equal(pc.utf8_length(labels), 0), pc.match_substring_regex(labels, NON_FINITE_PATTERN))
    if pc.any(unusable).as_py():
        row = pc.index(unusable, True).as_py()
        raise refuse(row, f"'{labels[row].as_py()}' is not a usable target")
    if pc.all(pc.match_substring_regex(labels, INTEGER_PATTERN)).as_py():
        unsigned = pc.utf8_ltrim(labels, characters="+-")
        too_long = pc.greater(pc.utf8_length(unsigned), INT64_DIGITS)
        if pc.any(too_long).as_py():
            raise refuse(pc.index(too_long, True).as_py(), "integer labels must fit in 64 bits")
        try:
            return pc.cast(pc.replace_substring_regex(labels, r"^\+", ""), pa.int64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:  # Up to 20 digits, but past int64.
            row = next(row for row, text in enumerate(labels.to_pylist()) if not -(2**63) <= int(text) < 2**63)
            raise refuse(row, "integer labels must fit in 64 bits") from None
    if pc.all(pc.match_substring_regex(labels, NUMBER_PATTERN)).as_py():
        values = pc.cast(labels, pa.float64()).to_numpy(zero_copy_only=False)
        if not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values))[0])
            raise refuse(row, f"'{labels[row].as_py()}' is too large for a 64-bit float")
        return values
    too_long = pc.greater(pc.utf8_length(labels), max_label_length)
    if pc.any(too_long).as_py():
        row = pc.index(too_long, True).as_py()
        raise refuse(row, f"a label of {len(labels[row].as_py())} characters; at most {max_label_length} "
                     "(limit max_label_length)")
    return _class_labels(labels)


def _class_labels(labels: pa.ChunkedArray) -> ClassLabels:
    """Sorted distinct labels and each row's index among them, each distinct label read once."""
    encoded = labels.combine_chunks().dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    order = sorted(range(len(distinct)), key=distinct.__getitem__)
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[order] = np.arange(len(distinct))
    return ClassLabels([distinct[index] for index in order], rank[encoded.indices.to_numpy(zero_copy_only=False)])


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


def _cell_error(line: int, column: str, problem: str) -> InvalidRequest:
    return InvalidRequest([{"field": "file", "row": line, "column": column,
                            "detail": f"line {line}, column '{column}': {problem}"}])


def _count_lines(source: BinaryIO) -> int:
    """Line breaks in the file (\\n, \\r or both), plus one: at least its number of records."""
    source.seek(0)
    n_lines = 1
    while block := source.read(BLOCK_BYTES):
        n_lines += block.count(b"\n") + block.count(b"\r")
    return n_lines


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
