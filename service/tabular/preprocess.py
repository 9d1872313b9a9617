"""The preprocessing a model keeps: fitted on the training split's coded columns, kept as JSON.

From the coded columns (:mod:`service.tabular.columns`: one float64 column per kept column, NaN
where missing) to the matrix the network takes, per column kind:

- ``numeric``, ``boolean`` (0/1): the training split's median in missing cells, plus a 0/1
  "missing" column when the training split had missing cells in it.
- ``datetime``: five numbers, each then treated as a numeric column: the year, the month (1-12),
  the day of the month (1-31), the day of the week (Monday 0) and the hour of the day (with
  minutes as a fraction), in UTC.
- ``categorical``: one 0/1 column per category seen in the training split, and a "missing" column
  when it had missing cells. A value the training split never had (a new category) is all
  zeros, never an error; a rare value folded into ``other`` at upload is ``other``'s column.

The engine then standardises every column by the training split's mean and std (the spec's
``standardize``), so a numeric column ends up as scikit-learn's
``SimpleImputer(strategy="median", add_indicator=True)`` then ``StandardScaler`` would make it,
and a categorical one as ``OneHotEncoder(handle_unknown="ignore")`` then ``StandardScaler``.
"""

from __future__ import annotations

import numpy as np

from .schema import Column

DATETIME_PARTS = ("year", "month", "day", "weekday", "hour")
VERSION = 1


def fit_preprocessing(columns: list[Column], coded: np.ndarray, train_rows: np.ndarray) -> dict:
    """The preprocessing of the kept ``columns`` fitted on ``coded[train_rows]``, as JSON-able dict.

    Parameters
    ----------
    columns : the dataset's schema columns (kept and excluded, in the file's order).
    coded : (n_samples, n_kept) the dataset's coded columns.
    train_rows : the training split's row indices.
    """
    steps = []
    kept = [column for column in columns if column.used]
    for index, column in enumerate(kept):
        train = coded[train_rows, index]
        step = {"name": column.name, "kind": column.kind}
        if column.kind == "categorical":
            seen = np.unique(train[~np.isnan(train)]).astype(int)
            step.update(categories=column.categories, other=column.other, codes=seen.tolist(),
                        missing_column=bool(np.isnan(train).any()))
        else:
            parts = datetime_parts(train) if column.kind == "datetime" else train[:, None]
            step.update(medians=[_median(part) for part in parts.T], missing_column=bool(np.isnan(train).any()))
        steps.append(step)
    return {"version": VERSION, "columns": steps, "outputs": output_names(steps)}


def _median(values: np.ndarray) -> float:
    present = values[~np.isnan(values)]
    return float(np.median(present)) if len(present) else 0.0


def transform(preprocessing: dict, coded: np.ndarray) -> np.ndarray:
    """(n_rows, n_outputs) float64 network inputs of ``coded`` (n_rows, n_kept) coded columns."""
    blocks = []
    for index, step in enumerate(preprocessing["columns"]):
        values = coded[:, index]
        missing = np.isnan(values)
        if step["kind"] == "categorical":
            blocks.append(values[:, None] == np.asarray(step["codes"], dtype=np.float64)[None, :])
        else:
            parts = datetime_parts(values) if step["kind"] == "datetime" else values[:, None].copy()
            medians = np.asarray(step["medians"], dtype=np.float64)
            blocks.append(np.where(np.isnan(parts), medians[None, :], parts))
        if step["missing_column"]:
            blocks.append(missing[:, None])
    return np.column_stack(blocks).astype(np.float64) if blocks else np.empty((len(coded), 0))


def output_names(steps: list[dict]) -> list[str]:
    """The name of each network input, in order: ``age``, ``age (missing)``, ``colour=red``, ``when.year``."""
    names = []
    for step in steps:
        if step["kind"] == "categorical":
            names.extend(f"{step['name']}={step['categories'][code]}" for code in step["codes"])
        elif step["kind"] == "datetime":
            names.extend(f"{step['name']}.{part}" for part in DATETIME_PARTS)
        else:
            names.append(step["name"])
        if step["missing_column"]:
            names.append(f"{step['name']} (missing)")
    return names


def datetime_parts(seconds: np.ndarray) -> np.ndarray:
    """(n, 5) year, month, day, weekday, hour of (n,) seconds since 1970 (UTC); NaN rows stay NaN."""
    missing = np.isnan(seconds)
    stamps = np.where(missing, 0, seconds).astype(np.int64).astype("datetime64[s]")
    years = stamps.astype("datetime64[Y]")
    months = stamps.astype("datetime64[M]")
    days = stamps.astype("datetime64[D]")
    parts = np.column_stack([
        years.astype(np.int64) + 1970,
        (months - years).astype(np.int64) + 1,
        (days - months).astype(np.int64) + 1,
        (days.astype(np.int64) + 3) % 7,  # 1970-01-01 was a Thursday (3, counting Monday as 0).
        (stamps - days).astype(np.int64) / 3600.0,
    ]).astype(np.float64)
    parts[missing] = np.nan
    return parts


def is_identity(preprocessing: dict | None) -> bool:
    """Whether the network's inputs are the coded columns themselves (numbers and booleans, nothing missing)."""
    return preprocessing is None or all(step["kind"] in ("numeric", "boolean") and not step["missing_column"]
                                        for step in preprocessing["columns"])
