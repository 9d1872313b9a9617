"""What each column of an uploaded table is: the inference rules, and the coded matrix they give.

The table arrives as text cells (pyarrow string columns, one per header name, trimmed), or as
columns pyarrow typed as it read them (numbers, ``True``/``False``, ISO dates:
:mod:`service.table_upload` keeps only those typings that these rules would make of the text).
Each column gets one kind, by the first rule that holds over its cells that are not missing:

- ``identifier``: a column without a name (pandas writes its index so), or one named ``id``,
  ``index`` or ``..._id`` whose cells are whole numbers, all different. Excluded.
- ``constant``: at most one distinct value and no missing cell, or every cell missing. Excluded.
- ``numeric``: every cell a finite number as JSON writes it (no ``1_000``, no ``inf``).
- ``boolean``: every cell ``true`` or ``false``, in any case (pandas writes ``True``/``False``).
- ``datetime``: every cell an ISO 8601 date or date-time (``2024-05-31``, ``2024-05-31 12:00:00``).
- ``text``: other text with more than 20 distinct values, more than half the cells distinct
  (names, ids, free text). Excluded.
- ``categorical``: other text. The ``MAX_CATEGORIES`` most frequent values are categories; rarer
  ones are folded into one ``other`` category.

A column that is numbers in at least half its cells (counting ``1_000``, ``1,000`` and ``inf`` as
meant for numbers) but not in all is refused with the cells that are not numbers, unless an
override says what it is: no cell is silently read as another number, or a number as a category. Missing
cells are those pandas reads as missing (:data:`MISSING_CELLS`), in every kind.

An override names the kind for a column (``categorical``, ``numeric``, ``boolean``, ``datetime``,
``text``) or ``ignore``; a cell that does not fit the kind named is a problem.

The coded matrix holds one float64 column per kept column, NaN where a cell is missing:
numbers as they are, booleans as 0/1, date-times as seconds since 1970-01-01 (UTC), and
categories as the index of their value in the column's ``categories`` (``other`` last).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .problems import Problems
from .schema import MAX_CATEGORIES, MAX_LISTED_CELLS, MISSING_CELLS, OTHER, TEXT_MIN_DISTINCT, UNNAMED, Column

NUMBER_PATTERN = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
INTEGER_PATTERN = r"^[+-]?\d+$"
NON_FINITE_PATTERN = r"(?i)^[+-]?inf(?:inity)?$"
BOOLEAN_PATTERN = r"(?i)^(?:true|false)$"
# What a person meant as a number: digits with separators (1_000, 1,000), or an infinity.
NUMBER_LIKE_PATTERN = r"(?i)^[+-]?(?:[\d_,.]*\d[\d_,.]*(?:e[+-]?\d+)?|inf(?:inity)?)$"


@dataclass
class CodedColumns:
    """The kept columns' cells as numbers: ``values`` (n_samples, n_kept) float64, NaN when missing."""

    columns: list[Column]
    values: np.ndarray
    problems: list[dict] = field(default_factory=list)


def infer_columns(table: pa.Table, overrides: dict[str, str], lines: "LineFinder") -> CodedColumns:
    """The schema of every column of ``table`` (trimmed text cells) and the kept columns' coded values.

    Raises
    ------
    Problems
        Every column that cannot be read as its kind, each with up to ``MAX_LISTED_CELLS`` cells.
    """
    n_rows = table.num_rows
    # Filled a column at a time, each column contiguous (Fortran order): no second copy at the end.
    values = np.empty((n_rows, table.num_columns), order="F")
    columns, problems, n_kept = [], [], 0
    for name in table.column_names:
        cells = table.column(name).combine_chunks()
        column, coded, column_problems = infer_column(name, cells, overrides.get(name), lines)
        del cells
        columns.append(column)
        problems.extend(column_problems)
        if column.used and coded is not None:
            values[:, n_kept] = coded
            n_kept += 1
    if problems:
        raise Problems(problems)
    return CodedColumns(columns, values[:, :n_kept])


def missing_mask(cells: pa.Array) -> np.ndarray:
    """(n_rows,) bool: the cells pandas would read as missing."""
    return pc.is_in(cells, value_set=pa.array(MISSING_CELLS)).to_numpy(zero_copy_only=False)


def infer_column(name: str, cells: pa.Array, override: str | None,
                 lines: "LineFinder") -> tuple[Column, np.ndarray | None, list[dict]]:
    """(schema, coded values (n_rows,) or None when excluded, problems) of one column.

    ``cells`` is trimmed text, or a column pyarrow typed as it read the file (int64, float64,
    bool or date32, null where a cell was empty), which takes the same rules without its text.
    The rules test each distinct text once (:class:`Distinct`), not each cell.
    """
    if not pa.types.is_string(cells.type):
        return _typed_column(name, cells)
    distinct = Distinct.of(cells)
    values = distinct.values
    n_missing = distinct.n_missing
    n_present = len(cells) - n_missing
    numbers = _as_numbers(values) if override in (None, "numeric") else None
    # Distinct values: of the numbers when the cells are numbers ("1" and "1.0" are one).
    n_distinct = len(np.unique(numbers)) if numbers is not None else len(values)

    def column(kind: str, reason: str, **more) -> Column:
        return Column(name, kind, n_missing, n_distinct, reason, **more)

    if override == "ignore":
        return column("ignored", "ignored: the upload's columns override says so"), None, []
    if override == "text":
        return column("text", "text: the upload's columns override says so"), None, []
    if override is None:
        excluded = _excluded_by_shape(column, name, n_present, n_missing, n_distinct)
        if excluded is not None:
            return excluded, None, []
        if numbers is not None:
            return _numeric(column, name, cells, distinct, numbers, lines, "every cell is a number")
        is_number = matches(values, NUMBER_PATTERN)
        if is_number.all():  # Numbers, one past float64: refused by _numeric.
            return _numeric(column, name, cells, distinct, None, lines, "every cell is a number")
        if _all(values, BOOLEAN_PATTERN):
            return column("boolean", "every cell is true or false"), _booleans(distinct), []
        times = _datetimes(values)
        if times is not None:
            return column("datetime", "every cell is an ISO 8601 date"), distinct.spread(times), []
        number_like = matches(values, NUMBER_LIKE_PATTERN)
        if distinct.counts[number_like].sum() >= n_present / 2:  # Half the cells, not half the values.
            bad = ~is_number
            # A number past float64 (1e999) is as wrong as the cells that are not numbers.
            bad[is_number] = ~np.isfinite(pc.cast(pc.filter(values, pa.array(is_number)), pa.float64())
                                          .to_numpy(zero_copy_only=False))
            listed = _bad_cells(name, cells, distinct.rows(bad), lines,
                                f" (the column is otherwise numbers: fix the cells, or send "
                                f"columns: {{\"{name}\": \"categorical\"}})")
            return column("numeric", "mostly numbers"), None, listed
        if n_distinct > TEXT_MIN_DISTINCT and n_distinct > n_present / 2:
            return column("text", f"{n_distinct} distinct texts in {n_present} cells: names, ids or free "
                          "text, excluded (send columns: {\"" + name + "\": \"categorical\"} to use it)"), None, []
        return _categorical(column, distinct, f"text with {n_distinct} distinct values")
    if override == "numeric":
        return _numeric(column, name, cells, distinct, numbers, lines, "numeric: the override says so")
    if override == "boolean":
        bad = ~matches(values, BOOLEAN_PATTERN)
        if bad.any():
            return column("boolean", ""), None, _bad_cells(name, cells, distinct.rows(bad), lines,
                                                           problem=lambda text: "is not true or false")
        return column("boolean", "boolean: the override says so"), _booleans(distinct), []
    if override == "datetime":
        times = _datetimes(values)
        if times is None:
            return column("datetime", ""), None, [{"field": "columns", "column": name, "detail":
                                                   f"column '{name}': not every cell is an ISO 8601 date"}]
        return column("datetime", "datetime: the override says so"), distinct.spread(times), []
    return _categorical(column, distinct, "categorical: the override says so")


@dataclass
class Distinct:
    """A text column by its distinct values that are not missing: ``values`` (n_values,) text in
    the order they first appear, ``counts`` (n_values,) the cells holding each, and ``codes``
    (n_rows,) int64, each cell's index into ``values`` (-1 where the cell is missing)."""

    values: pa.Array
    counts: np.ndarray
    codes: np.ndarray

    @classmethod
    def of(cls, cells: pa.Array) -> "Distinct":
        encoded = cells.dictionary_encode()
        missing_values = missing_mask(encoded.dictionary)
        # Renumber the values that are not missing 0..k-1, and send the missing ones to -1.
        renumbered = np.cumsum(~missing_values) - 1
        renumbered[missing_values] = -1
        codes = renumbered[encoded.indices.to_numpy(zero_copy_only=False)]
        values = pc.filter(encoded.dictionary, pa.array(~missing_values)) if missing_values.any() else encoded.dictionary
        return cls(values, np.bincount(codes[codes >= 0], minlength=len(values)), codes)

    @property
    def n_missing(self) -> int:
        return int(np.count_nonzero(self.codes < 0))

    def rows(self, flags: np.ndarray) -> np.ndarray:
        """(n_rows,) bool: the cells whose value is flagged in ``flags`` (n_values,); missing cells are not."""
        return np.append(flags, False)[self.codes]  # Index -1 picks the appended False.

    def spread(self, per_value: np.ndarray) -> np.ndarray:
        """(n_rows,) float64: each cell's value of ``per_value`` (n_values,), NaN where the cell is missing."""
        return np.append(per_value.astype(np.float64), np.nan)[self.codes]


def matches(values: pa.Array, pattern: str) -> np.ndarray:
    """(n_values,) bool: which of ``values`` match ``pattern``."""
    return pc.match_substring_regex(values, pattern).to_numpy(zero_copy_only=False)


def _excluded_by_shape(column, name: str, n_present: int, n_missing: int, n_distinct: int) -> Column | None:
    """The first two rules, whatever the cells are: pandas' index, and a constant column."""
    if name == UNNAMED:
        return column("identifier", "a column without a name: pandas writes its index so")
    if n_present == 0 or (n_distinct <= 1 and n_missing == 0):
        return column("constant", "every cell missing" if n_present == 0 else "one value in every row")
    return None


def _typed_column(name: str, cells: pa.Array) -> tuple[Column, np.ndarray | None, list[dict]]:
    """A column pyarrow typed as it read it: the rules as :func:`infer_column` applies them to its text."""
    missing = cells.is_null().to_numpy(zero_copy_only=False)
    present = cells.drop_null()
    if pa.types.is_date32(cells.type):  # Seconds since 1970, as the text's cast gives them.
        numbers = pc.cast(pc.cast(present, pa.timestamp("us")), pa.int64()).to_numpy(zero_copy_only=False) / 1e6
    else:
        numbers = pc.cast(present, pa.float64()).to_numpy(zero_copy_only=False)
    n_missing, n_present = int(missing.sum()), len(present)
    n_distinct = n_distinct_of(numbers)

    def column(kind: str, reason: str, **more) -> Column:
        return Column(name, kind, n_missing, n_distinct, reason, **more)

    excluded = _excluded_by_shape(column, name, n_present, n_missing, n_distinct)
    if excluded is not None:
        return excluded, None, []
    values = _spread(numbers, missing)
    if pa.types.is_boolean(cells.type):
        return column("boolean", "every cell is true or false"), values, []
    if pa.types.is_date32(cells.type):
        return column("datetime", "every cell is an ISO 8601 date"), values, []
    integer = pa.types.is_integer(cells.type)
    if integer and named_like_an_id(name) and n_distinct == len(cells):
        return column("identifier", "an id: whole numbers, all different, in a column named so; excluded"), None, []
    return column("numeric", "every cell is a number"), values, []


def _all(present: pa.Array, pattern: str) -> bool:
    return len(present) > 0 and bool(pc.all(pc.match_substring_regex(present, pattern)).as_py())


def _as_numbers(present: pa.Array) -> np.ndarray | None:
    """(n_present,) float64 when every cell is a number as JSON writes it, else None.

    pyarrow's cast is the test: it takes what the strict pattern takes and, beyond it, only
    ``nan``, ``inf`` and ``infinity`` (any case or sign), which give non-finite values; a column
    with one (or with a number past float64) is left to :func:`_numeric`'s refusal.
    """
    # A failed cast costs some 30 times a successful one: a column whose first cell is not a
    # number is not tried.
    if len(present) == 0 or not re.fullmatch(NUMBER_PATTERN, present[0].as_py()):
        return None
    try:
        numbers = pc.cast(present, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not np.isfinite(numbers).all():
        return None
    return numbers


def _numeric(column, name: str, cells: pa.Array, distinct: Distinct, numbers: np.ndarray | None,
             lines: "LineFinder", reason: str) -> tuple[Column, np.ndarray | None, list[dict]]:
    """A numeric column's coded values, or its cells that are not finite numbers as a problem.

    ``numbers`` (n_values,) are the distinct values' numbers when :func:`_as_numbers` has them.
    """
    values = distinct.values
    if numbers is None:
        is_number = matches(values, NUMBER_PATTERN)
        if not is_number.all():
            return column("numeric", reason), None, _bad_cells(name, cells, distinct.rows(~is_number), lines)
        numbers = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
        if not np.isfinite(numbers).all():
            return column("numeric", reason), None, _bad_cells(name, cells, distinct.rows(~np.isfinite(numbers)),
                                                               lines)
    integer = bool(np.all(numbers == np.round(numbers))) and _casts_to_int64(values)
    if integer and named_like_an_id(name) and n_distinct_of(numbers) == len(cells):
        return column("identifier", "an id: whole numbers, all different, in a column named so; excluded"), None, []
    return column("numeric", reason), distinct.spread(numbers), []


def named_like_an_id(name: str) -> bool:
    lowered = name.lower()
    return lowered in ("id", "index") or lowered.endswith(("_id", " id"))


def n_distinct_of(numbers: np.ndarray) -> int:
    return len(np.unique(numbers))


def as_int64(cells: pa.Array) -> np.ndarray:
    """Whole numbers as int64 (pyarrow's cast refuses a leading '+', which Python's int() takes)."""
    return pc.cast(pc.replace_substring_regex(cells, r"^\+", ""), pa.int64()).to_numpy(zero_copy_only=False)


def _casts_to_int64(present: pa.Array) -> bool:
    """Whether every cell is written as a whole number (``3``, not ``3.0``) that fits in int64."""
    if not re.fullmatch(INTEGER_PATTERN, present[0].as_py()):
        return False
    try:
        as_int64(present)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _booleans(distinct: Distinct) -> np.ndarray:
    return distinct.spread(pc.equal(pc.utf8_lower(distinct.values), "true").to_numpy(zero_copy_only=False))


def _datetimes(present: pa.Array) -> np.ndarray | None:
    """Seconds since 1970 (n_present,) float64 if every cell is an ISO 8601 date, else None."""
    if len(present) == 0 or not _all(present, r"^\d{4}-\d{2}-\d{2}"):
        return None
    zoned = bool(re.search(r"(?:Z|[+-]\d{2}:?\d{2})$", present[0].as_py()))
    for unit in [pa.timestamp("us", tz="UTC")] if zoned else [pa.timestamp("us")]:  # Naive, or with zone offsets.
        try:
            times = pc.cast(present, unit)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return pc.cast(times, pa.int64()).to_numpy(zero_copy_only=False) / 1e6
    return None


def _spread(present_values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """(n_rows,) with NaN where missing and ``present_values`` elsewhere, in order."""
    values = np.full(len(missing), np.nan)
    values[~missing] = present_values
    return values


def _categorical(column, distinct: Distinct, reason: str) -> tuple[Column, np.ndarray, list[dict]]:
    labels, frequency = distinct.values.to_pylist(), distinct.counts
    # Most frequent first, ties by value, so the same file always gives the same categories.
    ranked = sorted(range(len(labels)), key=lambda index: (-frequency[index], labels[index]))
    kept = sorted(labels[index] for index in ranked[:MAX_CATEGORIES])
    other = len(labels) > MAX_CATEGORIES
    categories = kept + ([OTHER] if other else [])
    index_of = {label: index for index, label in enumerate(kept)}
    # Every value is a category, or (past MAX_CATEGORIES) folded into 'other', coded last.
    codes = np.array([index_of.get(label, len(kept)) for label in labels], dtype=np.float64)
    if other:
        reason += f"; the {MAX_CATEGORIES} most frequent are categories, {len(labels) - MAX_CATEGORIES} rarer " \
                  f"ones are '{OTHER}'"
    return column("categorical", reason, categories=categories, other=other), distinct.spread(codes), []


def cell_problem(text: str) -> str:
    """What is wrong with a cell that should be a finite number."""
    if re.fullmatch(NON_FINITE_PATTERN, text.strip()):
        return "is not a finite number"
    if re.fullmatch(NUMBER_PATTERN, text.strip()):
        return "is too large for a 64-bit float"
    return "is not a number"


def _bad_cells(name: str, cells: pa.Array, bad_rows: np.ndarray, lines: "LineFinder",
               hint: str = "", problem=cell_problem) -> list[dict]:
    """One problem for the column: its first bad cell, then up to ``MAX_LISTED_CELLS`` more (line and text).

    ``bad_rows`` (n_rows,) bool flags the bad cells.
    """
    rows = np.flatnonzero(bad_rows)
    first, shown = int(rows[0]), rows[1:MAX_LISTED_CELLS]
    text = cells[first].as_py()
    detail = f"line {lines.line(first)}, column '{name}': '{text}' {problem(text)}"
    if len(shown):
        detail += "; also " + ", ".join(f"'{cells[int(row)].as_py()}' (line {lines.line(int(row))})" for row in shown)
        if len(rows) > len(shown) + 1:
            detail += f" and {len(rows) - len(shown) - 1} more"
    return [{"field": "file", "column": name, "row": lines.line(first), "detail": detail + hint}]


class LineFinder:
    """The 1-based line of each data row; the default counts one line per row below the header."""

    def __init__(self, header_lines: int = 1, lines: list[int] | None = None):
        self.header_lines, self.lines = header_lines, lines

    def line(self, row: int) -> int:
        return self.lines[row] if self.lines is not None else row + 1 + self.header_lines
