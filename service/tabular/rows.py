"""Predict rows as people send them, matched to the model's columns by name, then coded.

Four shapes give the same rows: ``{"inputs": [[...]]}`` (values in the order of the model's
columns), ``{"inputs": [{"column": value}]}`` (records), ``{"columns": [...], "data": [[...]]}``
(MLflow's ``dataframe_split``) and CSV with a header (any column order). Whatever the shape,
the values are read by column name, so the order never changes an answer. A column the model
needs and the rows lack is a problem naming it; columns the model does not use are ignored and
listed. ``null``, an empty cell or a missing-value string (``NA``, ``nan``) is a missing value,
imputed as in training; a model trained without missing values (or without preprocessing) needs
every value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from .schema import MISSING_CELLS
from .problems import Problems

NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
MISSING = frozenset(MISSING_CELLS)
MAX_LISTED_PROBLEMS = 20


@dataclass
class NamedRows:
    """Rows as columns by name: ``values[name]`` is (n_rows,) raw JSON values or CSV text."""

    n_rows: int
    values: dict[str, list[Any]]
    pointer: str  # Where a row's cell is, with {row} and {column} to fill in.


def rows_from_records(records: list[dict]) -> NamedRows:
    names = list(dict.fromkeys(name for record in records for name in record))
    return NamedRows(len(records), {name: [record.get(name) for record in records] for name in names},
                     "/inputs/{row}/{column}")


def rows_from_split(columns: list[str], data: list[list]) -> NamedRows:
    problems = [{"pointer": f"/data/{index}", "detail": f"has {len(row)} values, `columns` names {len(columns)}"}
                for index, row in enumerate(data) if len(row) != len(columns)]
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        problems.append({"pointer": "/columns", "detail": f"duplicate column names: {', '.join(duplicates)}"})
    if problems:
        raise Problems(problems[:MAX_LISTED_PROBLEMS])
    return NamedRows(len(data), {name: [row[index] for row in data] for index, name in enumerate(columns)},
                     "/data/{row}/{column_index}")


def rows_from_positions(names: list[str], inputs: list[list]) -> NamedRows:
    problems = [{"pointer": f"/inputs/{index}", "detail": f"the model takes {len(names)} values per row "
                 f"({', '.join(names)}), got {len(row)}"} for index, row in enumerate(inputs) if len(row) != len(names)]
    if problems:
        raise Problems(problems[:MAX_LISTED_PROBLEMS])
    return NamedRows(len(inputs), {name: [row[index] for row in inputs] for index, name in enumerate(names)},
                     "/inputs/{row}/{column_index}")


def rows_from_csv(header: list[str], rows: list[list[str]]) -> NamedRows:
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise Problems([{"pointer": "", "detail": f"header: duplicate column names: {', '.join(duplicates)}"}])
    problems = [{"pointer": f"/inputs/{index}", "detail": f"has {len(row)} cells, the header has {len(header)}"}
                for index, row in enumerate(rows) if len(row) != len(header)]
    if problems:
        raise Problems(problems[:MAX_LISTED_PROBLEMS])
    return NamedRows(len(rows), {name: [row[index] for row in rows] for index, name in enumerate(header)},
                     "/inputs/{row}/{column_index}")


def code_rows(preprocessing: dict, rows: NamedRows, allow_missing: bool = True) -> tuple[np.ndarray, list[str]]:
    """(coded (n_rows, n_kept) float64 as :mod:`service.tabular.columns` codes them, ignored column names).

    Raises
    ------
    Problems
        Columns the model needs that the rows lack, and cells that do not fit their column
        (up to ``MAX_LISTED_PROBLEMS``, every column named).
    """
    steps = preprocessing["columns"]
    needed = [step["name"] for step in steps]
    lacking = [name for name in needed if name not in rows.values]
    if lacking:
        raise Problems([{"pointer": "/inputs" if rows.pointer.startswith("/inputs") else "/columns",
                         "detail": f"missing column{'s' if len(lacking) > 1 else ''} {', '.join(lacking)}; "
                                   f"the model takes {', '.join(needed)}"}])
    ignored = [name for name in rows.values if name not in needed]
    order = list(rows.values)
    coded = np.empty((rows.n_rows, len(steps)))
    problems: list[dict] = []
    for index, step in enumerate(steps):
        code = CODERS[step["kind"]]
        categories = {label: position for position, label in enumerate(step.get("categories") or [])}
        column_index = order.index(step["name"])
        for row, value in enumerate(rows.values[step["name"]]):
            try:
                if value is None or (isinstance(value, str) and value.strip() in MISSING):
                    if not allow_missing:
                        raise ValueError("is missing, and this model needs every value")
                    coded[row, index] = np.nan
                else:
                    coded[row, index] = code(value, step, categories)
            except ValueError as error:
                if len(problems) < MAX_LISTED_PROBLEMS:
                    pointer = rows.pointer.format(row=row, column=step["name"], column_index=column_index)
                    problems.append({"pointer": pointer, "detail": f"column '{step['name']}': {value!r} {error}"})
    if problems:
        raise Problems(problems)
    return coded, ignored


def _number(value: Any, step: dict, categories: dict) -> float:
    if isinstance(value, bool):
        raise ValueError("is not a number")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        number = float(value.strip())
    else:
        raise ValueError("is not a number")
    if not np.isfinite(number):
        raise ValueError("is not a finite number")
    return number


def _boolean(value: Any, step: dict, categories: dict) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return float(value.strip().lower() == "true")
    if isinstance(value, (int, float)) and value in (0, 1):
        return float(value)
    raise ValueError("is not true or false")


def _category(value: Any, step: dict, categories: dict) -> float:
    # JSON numbers and booleans name the categories their CSV text would (2019, True).
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 2019.0 names the category the CSV cell 2019 made.
    label = value.strip() if isinstance(value, str) else str(value)
    if label in categories and not (step["other"] and categories[label] == len(categories) - 1):
        return float(categories[label])
    # A value the upload did not have among its categories: 'other' when rare values were
    # folded into it, else no category at all (all zeros after one-hot).
    return float(len(categories) - 1) if step["other"] else -1.0


def _datetime(value: Any, step: dict, categories: dict) -> float:
    if not isinstance(value, str):
        raise ValueError("is not an ISO 8601 date")
    try:
        stamp = np.datetime64(value.strip().replace(" ", "T").removesuffix("Z"), "us")
    except ValueError:
        raise ValueError("is not an ISO 8601 date") from None
    return float(stamp.astype(np.int64)) / 1e6


CODERS = {"numeric": _number, "boolean": _boolean, "categorical": _category, "datetime": _datetime}


def identity_preprocessing(names: list[str]) -> dict:
    """The preprocessing of a model trained on plain numbers with named columns: names only."""
    steps = [{"name": name, "kind": "numeric", "medians": [0.0], "missing_column": False} for name in names]
    # Nothing was fitted, so nothing can be imputed: every value is needed.
    return {"version": 1, "columns": steps, "outputs": list(names), "imputes": False, "target": None}
