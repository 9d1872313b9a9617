"""The target column: its type, the task it implies (and why), and the values to store.

Rules, in order (an explicit ``task`` always wins, if the values allow it):

- ``true``/``false`` cells: classification, the classes JSON booleans.
- text that is not numbers: classification, the classes strings.
- numbers: :mod:`.task_rule`'s rule, shared with JSON bodies (all 0 or 1: classification, the
  classes 0 and 1; many distinct whole numbers: regression; other whole numbers: classification,
  the classes integers; other numbers: regression).

A missing target cell (empty, ``NA``, ``nan``) is a problem naming its lines: Axon does not drop rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..storage import ClassLabels
from .columns import (
    BOOLEAN_PATTERN, INTEGER_PATTERN, MAX_LISTED_CELLS, NON_FINITE_PATTERN, NUMBER_PATTERN, Distinct, LineFinder,
    as_int64, matches,
)
from .problems import Problems
from .task_rule import EXPLICIT, is_zero_one, numbers_task

INT64_DIGITS = 18  # Fewer digits than this always fit in int64; longer labels are read as text.


@dataclass
class Target:
    """The target as the dataset stores it: ``values`` (n_samples,) numbers or class labels, the
    chosen task, why, and the target's JSON type (``boolean``, ``integer``, ``number``, ``string``)."""

    values: np.ndarray | ClassLabels
    task: str
    reason: str
    kind: str

    def to_json(self, name: str) -> dict:
        return {"name": name, "kind": self.kind, "task": self.task, "task_reason": self.reason}


def read_target(name: str, cells: pa.Array, task: str | None, lines: LineFinder, max_label_length: int) -> Target:
    """Type ``cells`` (n_samples,) trimmed text, the target column, and choose the task.

    Raises
    ------
    Problems
        Missing or non-finite targets, labels past ``max_label_length``, or ``task: regression``
        for labels that are not numbers.
    """
    distinct = Distinct.of(cells)  # Each test below runs once per distinct text, not per cell.
    values = distinct.values
    missing = (distinct.codes < 0) | distinct.rows(matches(values, NON_FINITE_PATTERN))
    if missing.any():
        rows = np.flatnonzero(missing)
        shown = ", ".join(str(lines.line(int(row))) for row in rows[:MAX_LISTED_CELLS])
        more = f" and {len(rows) - MAX_LISTED_CELLS} more" if len(rows) > MAX_LISTED_CELLS else ""
        raise Problems([{"field": "file", "column": name, "row": lines.line(int(rows[0])),
                         "detail": f"{len(rows)} {'row has' if len(rows) == 1 else 'rows have'} no usable target '{name}' (missing or not finite), "
                                   f"on lines {shown}{more}; drop those rows or choose another target"}])
    explicit = EXPLICIT if task else None
    if matches(values, BOOLEAN_PATTERN).all():
        flags = distinct.rows(pc.equal(pc.utf8_lower(values), "true").to_numpy(zero_copy_only=False))
        return _labels(name, task, [False, True], flags.astype(np.int64), "boolean",
                       explicit or "the target holds true/false")
    if not matches(values, NUMBER_PATTERN).all():
        return _text_labels(name, cells, task, explicit, max_label_length, lines)
    value_numbers = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    if not np.isfinite(value_numbers).all():
        row = int(np.flatnonzero(distinct.rows(~np.isfinite(value_numbers)))[0])
        raise Problems([{"field": "file", "column": name, "row": lines.line(row),
                         "detail": f"'{cells[row].as_py()}' is too large for a 64-bit float"}])
    numbers = distinct.spread(value_numbers)
    whole = bool(matches(values, INTEGER_PATTERN).all())
    if whole and pc.max(pc.utf8_length(pc.utf8_ltrim(values, characters="+-0"))).as_py() > INT64_DIGITS:
        whole = False  # Past int64: values, not labels.
    kind = "integer" if whole else "number"
    task, reason = numbers_task(numbers, whole, task)
    if task == "regression":
        return Target(numbers, "regression", reason, kind)
    if is_zero_one(numbers):
        return Target(numbers.astype(np.int64), "classification", reason, "integer")
    if not whole:
        raise Problems([{"field": "task", "detail": f"classification needs whole-number, true/false or text "
                         f"labels; target '{name}' holds numbers with a fraction"}])
    return Target(as_int64(cells), "classification", reason, kind)


def _labels(name: str, task: str | None, classes: list, indices: np.ndarray, kind: str, reason: str) -> Target:
    if task == "regression":
        raise Problems([{"field": "task", "detail": f"regression needs numbers; target '{name}' holds {kind} labels"}])
    return Target(ClassLabels(classes, indices), "classification", reason, kind)


def _text_labels(name: str, cells: pa.Array, task: str | None, explicit: str | None,
                 max_label_length: int, lines: LineFinder) -> Target:
    lengths = pc.utf8_length(cells).to_numpy(zero_copy_only=False)
    if lengths.max() > max_label_length:
        row = int(np.flatnonzero(lengths > max_label_length)[0])
        raise Problems([{"field": "file", "column": name, "row": lines.line(row), "detail": f"line {lines.line(row)}: "
                         f"a label of {int(lengths[row])} characters; at most {max_label_length} (limit max_label_length)"}])
    encoded = cells.dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    order = sorted(range(len(distinct)), key=distinct.__getitem__)
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[order] = np.arange(len(distinct))
    indices = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    return _labels(name, task, [distinct[index] for index in order], indices, "string",
                   explicit or "the target holds text: class labels")
