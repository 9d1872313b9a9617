"""Tabular data: a table's column schema at upload, the preprocessing a model keeps, predict rows by name.

The path of a cell: an uploaded table's text (:mod:`.columns` types it) becomes a coded column
the dataset stores (one float64 column per kept column, NaN where missing). Training fits a
preprocessing on the training split's coded rows (:mod:`.preprocess`) and keeps it, as JSON, in
the model artefact's metadata; predict codes the rows it is sent by column name (:mod:`.rows`)
and applies that same preprocessing. :func:`prepare` is the one call from coded rows to the
network's inputs, for every path that runs a model (training, boundary, predict, evaluation).

Nothing here imports Flask or the database: problems are raised as :class:`Problems`.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np

from mlp import NetworkSpec, encode_targets, split_indices

from ..storage import training_targets
from .preprocess import fit_preprocessing, is_identity, transform
from .problems import Problems
from .schema import OVERRIDES, Column

if TYPE_CHECKING:  # pyarrow only where uploads are read: describe_table imports it.
    import pyarrow as pa

    from .columns import LineFinder
    from .target import Target

__all__ = ["OVERRIDES", "Problems", "TableDataset", "describe_table", "fit_for_training", "prepare", "prepare_dataset",
           "preprocessing_of", "is_identity", "schema_columns"]


@dataclass
class TableDataset:
    """An uploaded table read: the schema (JSON, as the dataset stores it), the coded kept columns
    (n_samples, n_kept) float64 with NaN where missing, their names, and the target."""

    schema: dict
    coded: np.ndarray
    feature_names: list[str]
    target: "Target"


def describe_table(table: "pa.Table", target: str, task: str | None, overrides: dict[str, str],
                   lines: "LineFinder", max_label_length: int) -> TableDataset:
    """Type every column of ``table`` (trimmed text cells), the ``target`` one too, and code the kept ones.

    Raises
    ------
    Problems
        Every problem found, the features' and the target's together.
    """
    from .columns import infer_columns
    from .target import read_target

    problems = [{"field": "columns", "column": name, "detail": f"no column '{name}' in the header"}
                for name in overrides if name not in table.column_names]
    problems += [{"field": "columns", "column": name, "detail": f"'{kind}' is not one of {', '.join(OVERRIDES)}"}
                 for name, kind in overrides.items() if kind not in OVERRIDES]
    if target in overrides:
        problems.append({"field": "columns", "column": target, "detail": "the target's kind follows from its "
                         "values and `task`; it cannot be overridden"})
    target_value = None
    try:
        target_value = read_target(target, table.column(target).combine_chunks(), task, lines, max_label_length)
    except Problems as found:
        problems += found.problems
    features = table.drop_columns([target])
    try:
        coded = infer_columns(features, {name: kind for name, kind in overrides.items() if kind in OVERRIDES},
                              lines)
    except Problems as found:
        raise Problems(problems + found.problems) from None
    if problems:
        raise Problems(problems)
    kept = [column for column in coded.columns if column.used]
    if not kept:
        raise Problems([{"field": "file", "detail": "no usable feature column: "
                         + "; ".join(f"'{column.name}' is {column.kind}" for column in coded.columns)}])
    schema = {"columns": [column.to_json() for column in coded.columns],
              "target": target_value.to_json(target),
              "n_inputs": _input_width(kept)}
    return TableDataset(schema, coded.values, [column.name for column in kept], target_value)


def _input_width(kept: list[Column]) -> int:
    """The most network inputs the kept columns can make (each column's categories and missing flag)."""
    width = 0
    for column in kept:
        width += len(column.categories) if column.kind == "categorical" else 5 if column.kind == "datetime" else 1
        width += 1 if column.missing else 0
    return width


def schema_columns(schema: dict) -> list[Column]:
    """The schema's columns as :class:`Column` objects."""
    return [Column(name=entry["name"], kind=entry["kind"], missing=entry["missing"], distinct=entry["distinct"],
                   reason=entry["reason"], categories=entry.get("categories"), other=entry.get("other", False))
            for entry in schema["columns"]]


def fit_for_training(schema: dict, classes: list | None, task: str, coded: np.ndarray, stored_targets: np.ndarray,
                     spec: NetworkSpec | dict) -> tuple[np.ndarray, dict]:
    """(network inputs (n_samples, n_inputs) float64, preprocessing) fitted on the job's training split.

    The split is the engine's own (``mlp.data.split_indices`` with the spec's validation_split and
    seed), so the preprocessing sees exactly the rows the network trains on.
    """
    if isinstance(spec, NetworkSpec):
        validation_split, seed = spec.validation_split, spec.seed
    else:  # A stored (bound) spec; one written by hand may leave these to their defaults.
        fields = NetworkSpec.model_fields
        validation_split = spec.get("validation_split", fields["validation_split"].default)
        seed = spec.get("seed", fields["seed"].default)
    encoded = encode_targets(training_targets(stored_targets, classes), task)
    train_rows, _ = split_indices(encoded, validation_split, seed)
    preprocessing = fit_preprocessing(schema_columns(schema), coded, train_rows)
    preprocessing["target"] = {**schema["target"], "classes": classes}
    return transform(preprocessing, coded), preprocessing


def preprocessing_of(meta: dict) -> dict | None:
    """The preprocessing a model artefact's metadata keeps, None for a model trained on plain numbers."""
    return meta.get("preprocessing")


def shown_classes(model) -> list | None:
    """The model's class labels in the target's own JSON type (an upload's true/false target as
    booleans), position for position with ``model.classes``."""
    target = (preprocessing_of(model.meta) or {}).get("target") or {}
    return target.get("classes") or model.classes


def with_shown_labels(report: dict, labels: list | None) -> dict:
    """``report`` (a classification report of ``model.classes``) with its labels as ``labels``."""
    if report.get("task") != "classification" or labels is None:
        return report
    return {**report, "classes": list(labels),
            "per_class": [{**scores, "label": label} for scores, label in zip(report["per_class"], labels)]}


def prepare_dataset(preprocessing: dict | None, schema: dict | None, feature_names: list[str] | None,
                    coded: np.ndarray) -> np.ndarray:
    """The network's inputs (n_samples, n_inputs) for another dataset's stored rows, columns matched by name.

    A dataset codes its categories by its own category lists; each is recoded to the model's
    (a category the model never had is no category: all zeros, or ``other``).

    Raises
    ------
    Problems
        The dataset lacks a column the model takes, or has it as another kind.
    """
    if preprocessing is None or schema is None:
        return prepare(preprocessing, coded)
    position = {name: index for index, name in enumerate(feature_names or [])}
    kinds = {column["name"]: column for column in schema["columns"]}
    problems = [{"field": "dataset_id", "column": step["name"], "detail": f"the dataset has no usable column "
                 f"'{step['name']}' ({step['kind']}), which the model takes"}
                for step in preprocessing["columns"]
                if step["name"] not in position or kinds[step["name"]]["kind"] != step["kind"]]
    if problems:
        raise Problems(problems)
    recoded = np.empty((len(coded), len(preprocessing["columns"])))
    for index, step in enumerate(preprocessing["columns"]):
        values = coded[:, position[step["name"]]]
        if step["kind"] == "categorical":
            model_codes = {label: code for code, label in enumerate(step["categories"])}
            unknown = len(step["categories"]) - 1 if step["other"] else -1
            mapping = np.array([model_codes.get(label, unknown) for label in kinds[step["name"]]["categories"]],
                               dtype=np.float64)
            present = ~np.isnan(values)
            values = values.copy()
            values[present] = mapping[values[present].astype(np.int64)]
        recoded[:, index] = values
    return transform(preprocessing, recoded)


def prepare(preprocessing: dict | None, coded: np.ndarray) -> np.ndarray:
    """The network's inputs (n_rows, n_inputs) float64 from coded rows (n_rows, n_kept).

    ``preprocessing`` is :func:`preprocessing_of` the model's metadata; None passes the rows as they are.
    """
    return coded if preprocessing is None else transform(preprocessing, coded)
