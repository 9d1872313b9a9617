"""Which task numeric targets imply, and why: the one rule for uploads and JSON bodies alike.

An explicit ``task`` always wins. Otherwise, in order:

- numbers that are all 0 or 1 (``0``, ``1.0``): classification (a 0/1 label, however written);
- whole numbers with more than :data:`MANY_INTEGERS` distinct values, and more than one distinct
  value per :data:`ROWS_PER_CLASS` rows: regression (a count or a measurement, not labels);
- other whole numbers: classification;
- other numbers: regression.

"Whole" is how the numbers are written: digits only in a CSV cell, a JSON integer in a body (JSON
keeps ``1`` and ``1.0`` apart). Text and true/false targets are labels before this rule is asked.
Nothing here imports pyarrow: the JSON path runs in processes that never read an upload.
"""

from __future__ import annotations

import numpy as np

MANY_INTEGERS = 20  # Distinct whole numbers past this (and past one per ROWS_PER_CLASS rows) are values.
ROWS_PER_CLASS = 20
EXPLICIT = "the request's task"


def is_zero_one(numbers: np.ndarray) -> bool:
    """Whether every one of ``numbers`` (n_samples,) is 0 or 1."""
    return bool(np.isin(numbers, (0.0, 1.0)).all())


def numbers_task(numbers: np.ndarray, whole: bool, task: str | None) -> tuple[str, str]:
    """(task, reason) for finite targets ``numbers`` (n_samples,); ``whole``: written as integers."""
    if task is not None:
        return task, EXPLICIT
    if is_zero_one(numbers):
        return "classification", "numbers that are all 0 or 1: class labels"
    if not whole:
        return "regression", "numbers written with a fraction or an exponent: values"
    n_distinct = len(np.unique(numbers))
    if n_distinct > MANY_INTEGERS and n_distinct * ROWS_PER_CLASS > len(numbers):
        return "regression", (f"whole numbers with {n_distinct} distinct values in {len(numbers)} rows (more than "
                              f"{MANY_INTEGERS}, and more than one per {ROWS_PER_CLASS} rows): values, not labels")
    return "classification", f"whole numbers with {n_distinct} distinct values: class labels"
