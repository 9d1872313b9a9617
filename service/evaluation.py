"""``POST /v1/models/{id}/evaluate``: a model's evaluation report on a labelled dataset or labelled rows.

The report is the one training stores with the model (:mod:`mlp.evaluation`), made of the model's
predictions on the given rows. Raw rows go through predict's own path (:func:`service.predict.predict`:
the same checks and the same input handling as ``POST .../predict``); a stored dataset's arrays go
straight to the loaded model, without predict's row limits, bounded instead by max_predict_values.
"""

from __future__ import annotations


import numpy as np
from pydantic import Field, StrictBool

from mlp import DataError, Model, classification_report, regression_report

from .auth import current_tenant
from .database import get_session
from .errors import InvalidRequest, echo
from .evaluation_schemas import EvaluationOut
from .http import JSON, current_settings, negotiate, read_json, validate_json
from .tables import Dataset
from .predict import _predict_matrix, coded_rows, load_model, predict
from .schemas import PredictRequest, RequestModel, Target
from .storage import decode_arrays
from .tabular import Problems, prepare, prepare_dataset, preprocessing_of, shown_classes, with_shown_labels
from .tabular.rows import rows_from_positions

MAX_NAMED_LABELS = 5  # Unknown labels a refusal of a dataset names.


class EvaluateDataset(RequestModel):
    """Evaluate on a stored dataset with the model's features and task, its labels among the model's classes."""

    dataset_id: str = Field(..., description="A dataset of this tenant; an unknown id is a 422 naming /dataset_id.")


# A refusal names at most this many cells that are not numbers.
MAX_NAMED_CELLS = 20


class EvaluateRows(PredictRequest):
    """Evaluate on labelled rows: the rows as predict takes them (``inputs``, in the model's column
    order), and each row's true target."""

    targets: list[StrictBool | Target] = Field(..., min_length=1, description="One per row: true class labels "
                                               "(among the model's classes, in the target's own type) or "
                                               "regression values.")


def evaluate_request(model_id: str) -> EvaluationOut:
    """Read the request's body (a dataset id, or rows with targets) and evaluate the model on it."""
    load_model(model_id)  # An unknown model is a 404 whatever the body.
    negotiate(JSON)
    document = read_json()
    if isinstance(document, dict) and "dataset_id" in document:
        return evaluate_dataset(model_id, validate_json(EvaluateDataset, document).dataset_id)
    body = validate_json(EvaluateRows, document, context={"max_predict_rows": current_settings().max_predict_rows})
    return evaluate_rows(model_id, body.inputs, body.targets)


def evaluate_rows(model_id: str, inputs: list[list[float]], targets: list) -> EvaluationOut:
    """The report of the model on ``inputs`` (n_rows, n_features) against ``targets`` (n_rows,).

    The rows are predicted by :func:`service.predict.predict`, so they meet predict's rules and
    its pointers (`/inputs`); targets that do not fit the model are 422s naming `/targets/<i>`.
    """
    model = load_model(model_id)
    if len(targets) != len(inputs):
        raise InvalidRequest([{"pointer": "/targets", "detail": f"one target per row of inputs "
                               f"({len(inputs)}), got {len(targets)}"}])
    labels = shown_classes(model)
    true_values = _true_indices(labels, targets) if model.task == "classification" else _true_values(targets)
    preprocessing = preprocessing_of(model.meta)
    if preprocessing is None:
        _require_numbers(inputs)
        answer = predict(model_id, inputs)
    else:  # The raw rows through the model's own column preprocessing, as predict takes them.
        coded, _ = coded_rows(preprocessing, lambda names: rows_from_positions(names, inputs))
        answer = _predict_matrix(model, prepare(preprocessing, coded), "/inputs")
    if model.task == "classification":
        report = classification_report(true_values, np.asarray(answer.probabilities), model.classes)
    else:
        report = regression_report(true_values, np.asarray(answer.predictions, dtype=np.float64))
    return EvaluationOut.model_validate({"evaluated_on": "rows", **with_shown_labels(report, labels)})


def _require_numbers(inputs: list[list]) -> None:
    """A 422 naming the first cells that are not numbers, for a model trained on plain numbers."""
    errors = [{"pointer": f"/inputs/{row}/{column}", "detail": "a number: this model was trained on numbers, "
               "not on an upload's columns"}
              for row, cells in enumerate(inputs) for column, cell in enumerate(cells)
              if isinstance(cell, bool) or not isinstance(cell, (int, float))][:MAX_NAMED_CELLS]
    if errors:
        raise InvalidRequest(errors)


def _true_indices(classes: list, targets: list) -> np.ndarray:
    """Each label's index among the model's ``classes``, or a 422 naming every label that is not one."""
    index_of = {_key(label): index for index, label in enumerate(classes)}
    indices, errors = np.empty(len(targets), dtype=np.int64), []
    for row, label in enumerate(targets):
        index = index_of.get(_key(label))
        if index is None:
            errors.append({"pointer": f"/targets/{row}", "detail": f"{label!r} is not one of the model's "
                           f"classes ({_listed(classes)})"})
        else:
            indices[row] = index
    if errors:
        raise InvalidRequest(errors)
    return indices


def _key(label) -> tuple:
    # By type as well as value: 1, "1" and true are different labels; 1.0 is the label 1.
    if isinstance(label, str):
        return ("str", label)
    if isinstance(label, bool):
        return ("bool", label)
    return ("number", label)


def _true_values(targets: list) -> np.ndarray:
    errors = [{"pointer": f"/targets/{row}", "detail": "a regression target must be a number"}
              for row, value in enumerate(targets) if isinstance(value, (str, bool))]
    if errors:
        raise InvalidRequest(errors)
    return np.asarray(targets, dtype=np.float64).reshape(-1, 1)


def evaluate_dataset(model_id: str, dataset_id: str) -> EvaluationOut:
    """The report of the model on the dataset ``dataset_id`` (its stored features and targets).

    422s naming `/dataset_id`: no such dataset, another feature count or task than the model's,
    labels the model does not know, or rows x classes over max_predict_values.
    """
    model = load_model(model_id)
    dataset = get_session().get(Dataset, dataset_id)
    if dataset is None or dataset.tenant != current_tenant():
        raise _refused(f"no dataset with id '{echo(dataset_id)}'")
    if dataset.task != model.task:
        raise _refused(f"the dataset is for {dataset.task}; the model does {model.task}")
    preprocessing = preprocessing_of(model.meta)
    # A model with column preprocessing matches the dataset's columns by name (prepare_dataset).
    if preprocessing is None and dataset.n_features != model.n_features:
        raise _refused(f"the dataset has {dataset.n_features} features; the model takes {model.n_features}")
    per_row = len(model.classes) if model.classes is not None else model.network.layer_sizes[-1]
    limit = current_settings().max_predict_values
    if dataset.n_samples * per_row > limit:
        raise _refused(f"{dataset.n_samples} rows x {per_row} outputs is {dataset.n_samples * per_row} "
                       f"numbers, at most {limit} (limit max_predict_values)")
    features, stored_targets = decode_arrays(dataset.data)
    try:
        features = prepare_dataset(preprocessing, dataset.table_schema, dataset.feature_names, features)
    except Problems as found:  # A column the model takes is missing, or of another kind.
        raise InvalidRequest(found.problems) from None
    try:
        prediction = model.predict(features)
    except DataError as error:  # Finite features a float32 model's arithmetic cannot hold.
        raise _refused(error.message) from None
    if model.task == "classification":
        report = classification_report(_dataset_indices(model, dataset, stored_targets), prediction.probabilities,
                                       model.classes)
    else:
        report = regression_report(stored_targets.reshape(len(stored_targets), -1), prediction.predictions)
    report = with_shown_labels(report, shown_classes(model))
    return EvaluationOut.model_validate({"evaluated_on": "dataset", "dataset_id": dataset.id, **report})


def _dataset_indices(model: Model, dataset: Dataset, stored_targets: np.ndarray) -> np.ndarray:
    """The dataset's rows as indices into the model's classes; 422 when it holds labels the model lacks."""
    index_of = {_key(label): index for index, label in enumerate(model.classes)}
    mapped = [index_of.get(_key(label)) for label in dataset.classes]
    unknown = [label for label, index in zip(dataset.classes, mapped) if index is None]
    if unknown:
        raise _refused(f"the dataset has labels the model does not know: {_listed(unknown)}; "
                       f"the model's classes are {_listed(model.classes)}")
    return np.asarray(mapped, dtype=np.int64)[stored_targets]


def _listed(labels: list) -> str:
    shown = ", ".join(repr(label) for label in labels[:MAX_NAMED_LABELS])
    return shown + (f" and {len(labels) - MAX_NAMED_LABELS} more" if len(labels) > MAX_NAMED_LABELS else "")


def _refused(detail: str) -> InvalidRequest:
    return InvalidRequest([{"pointer": "/dataset_id", "detail": detail}])
