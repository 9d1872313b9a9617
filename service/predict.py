"""Prediction: trained models loaded from the database once per process and kept in an LRU cache.

A model never changes after its job succeeds, so a cached one needs no database read, which is
what keeps single-row predict in the low milliseconds. ``mlp.Model`` applies the standardisation
stored with the weights. Each cached model keeps its tenant, so a cache hit is scoped as a
database read would be.
"""

from __future__ import annotations

import re

import numpy as np
import pydantic_core
from flask import request
from flask_openapi3 import APIBlueprint
from sqlalchemy import select
from sqlalchemy.orm import undefer

from mlp import DataError, Model

from .app_state import app_state
from .auth import current_tenant
from .csv_input import NUMBER, _rows, _text, read_predict_csv
from .database import get_session
from .errors import InvalidRequest, MalformedBody, NotFound
from .http import CSV, JSON, body_docs, current_settings, negotiate, read_json, validate_json
from .metrics import PREDICT_SECONDS
from .tables import TrainedModel
from .schemas import NumericPredictRequest, PredictOut, PredictRecords, PredictRequest, PredictSplit
from .tabular.preprocess import transform

CSV_BODY_DOC = {"type": "string", "description": "Rows, one per line. For a model with column names (trained "
                "on an upload or a generator) a header row names the columns, in any order; without one the "
                "rows are in the model's order. For other models a header row is skipped."}


def find_model_row(model_id: str, with_artefact: bool = False) -> TrainedModel:
    """The current tenant's model ``model_id``; another tenant's is as unknown as a missing one."""
    query = select(TrainedModel).where(TrainedModel.id == model_id, TrainedModel.tenant == current_tenant())
    if with_artefact:
        query = query.options(undefer(TrainedModel.artefact))
    row = get_session().scalars(query).one_or_none()
    if row is None:
        raise NotFound("model", model_id)
    return row


def load_model(model_id: str) -> Model:
    """The model ``model_id``, from the cache or else from the database (404 when unknown)."""
    # (tenant, model) by model id: the tenant travels with the model so a hit is scoped like a read.
    cache = app_state().model_cache
    cached = cache.get(model_id)
    if cached is None:
        # Two threads missing at once both load; the second put simply replaces the first.
        row = find_model_row(model_id, with_artefact=True)
        cached = (row.tenant, Model.from_bytes(row.artefact))
        cache.put(model_id, cached)
    tenant, model = cached
    if tenant != current_tenant():
        raise NotFound("model", model_id)
    return model


def read_predict_request(document=None) -> NumericPredictRequest:
    """The request's rows of numbers, from JSON ``inputs`` (``document``, read already) or
    ``text/csv``, checked against max_predict_rows: the rows a model without column names takes."""
    if document is None:
        document = read_json() if negotiate(JSON, CSV) == JSON else {"inputs": read_predict_csv(request.get_data())}
    return validate_json(NumericPredictRequest, document,
                         context={"max_predict_rows": current_settings().max_predict_rows})


def predict_body_docs(blueprint: APIBlueprint) -> dict:
    """The OpenAPI request body of a predict route: JSON rows, records or dataframe_split, or CSV."""
    return body_docs(blueprint, {JSON: [PredictRequest, PredictRecords, PredictSplit], CSV: CSV_BODY_DOC},
                     {"inputs": [[0.5, -1.2], [3.0, 0.1]]})


@PREDICT_SECONDS.time()
def predict_request(model_id: str) -> PredictOut:
    """Predict the request's rows, in whichever shape they come, with the model ``model_id``."""
    # The body first: a malformed one is a 400 (and the wrong media type a 415) whatever the model.
    document = read_json_strictly() if negotiate(JSON, CSV) == JSON else None
    model = load_model(model_id)
    preprocessing = model.meta.get("preprocessing")
    if preprocessing is None:
        return predict(model_id, read_predict_request(document).inputs)
    coded, ignored = read_named_rows(preprocessing, document)
    inputs = transform(preprocessing, coded)
    answer = _predict_matrix(model, inputs, "/inputs")
    target = preprocessing.get("target") or {}
    if answer.classes is not None and target.get("classes"):
        labels = target["classes"]  # The target's own JSON type: booleans stay booleans.
        index = {label: position for position, label in enumerate(model.classes)}
        answer.predictions = [labels[index[label]] for label in answer.predictions]
        answer.classes = labels
    answer.ignored_columns = ignored or None
    return answer


SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def read_json_strictly():
    """:func:`read_json`, and a 400 for the lone UTF-16 surrogate escapes Python's parser takes
    and pydantic's refuses (as :func:`validate_json` answers them on every other route)."""
    document = read_json()
    raw = request.get_data(cache=True)
    if SURROGATE_ESCAPE.search(raw):
        try:
            pydantic_core.from_json(raw)
        except ValueError as error:
            raise MalformedBody(f"the body is not valid JSON: {error}") from None
    return document


def read_named_rows(preprocessing: dict, document=None) -> tuple[np.ndarray, list[str]]:
    """The request's rows coded for ``preprocessing`` by column name, and the columns it ignored;
    ``document`` is a JSON body already read (None for CSV)."""
    context = {"max_predict_rows": current_settings().max_predict_rows}
    if document is None:
        return coded_rows(preprocessing, lambda names: named_csv_rows(request.get_data(), names))
    return coded_rows(preprocessing, lambda names: named_json_rows(document, names, context))


def coded_rows(preprocessing: dict, read_rows) -> tuple[np.ndarray, list[str]]:
    """(coded (n_rows, n_kept), ignored column names) of the rows ``read_rows(names)`` reads, given
    the model's column names in order; every problem with them is one 422."""
    from .tabular import Problems
    from .tabular.rows import code_rows

    try:
        rows = read_rows([step["name"] for step in preprocessing["columns"]])
        return code_rows(preprocessing, rows, allow_missing=preprocessing.get("imputes", True))
    except Problems as found:
        raise InvalidRequest(found.problems) from None


def named_json_rows(document, names: list[str], context: dict):
    from .tabular.rows import rows_from_positions, rows_from_records, rows_from_split

    if isinstance(document, dict) and ("columns" in document or "data" in document):
        split = validate_json(PredictSplit, document, context=context)
        return rows_from_split(split.columns, split.data)
    inputs = document.get("inputs") if isinstance(document, dict) else None
    if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
        return rows_from_records(validate_json(PredictRecords, document, context=context).inputs)
    return rows_from_positions(names, validate_json(PredictRequest, document, context=context).inputs)


def named_csv_rows(raw: bytes, names: list[str]):
    """CSV rows by the header's names; a file whose first row is all numbers is rows in the model's order."""
    from .tabular.rows import rows_from_csv, rows_from_positions

    place = {"pointer": ""}
    rows = [cells for _, cells in _rows(_text(raw, place), place)]
    if not rows:
        raise InvalidRequest([{"pointer": "/inputs", "detail": "no rows"}])
    if all(NUMBER.fullmatch(cell.strip()) for cell in rows[0]):
        return rows_from_positions(names, rows)
    if len(rows) == 1:
        raise InvalidRequest([{"pointer": "/inputs", "detail": "a header and no rows"}])
    max_rows = current_settings().max_predict_rows
    if len(rows) - 1 > max_rows:
        raise InvalidRequest([{"pointer": "/inputs", "detail": f"at most {max_rows} rows (limit max_predict_rows), "
                               f"got {len(rows) - 1}"}])
    return rows_from_csv([name.strip() for name in rows[0]], rows[1:])


def predict(model_id: str, inputs: list[list[float]]) -> PredictOut:
    """Predict ``inputs`` (n_rows, n_features) with the model; 422 naming /inputs on a wrong width."""
    model = load_model(model_id)
    _check_width(inputs, model.n_features)
    return _predict_matrix(model, np.asarray(inputs, dtype=np.float64), "/inputs")


def _predict_matrix(model: Model, inputs: np.ndarray, pointer: str) -> PredictOut:
    """The answer for ``inputs`` (n_rows, model.n_features), the network's own inputs."""
    _check_answer_size(len(inputs), model, current_settings().max_predict_values)
    try:
        prediction = model.predict(inputs)
    except DataError as error:  # Finite inputs the model's float32 arithmetic cannot hold.
        raise InvalidRequest([{"pointer": pointer, "detail": error.message}]) from None
    if model.task == "regression":
        return PredictOut(predictions=prediction.predictions.tolist())
    return PredictOut(predictions=prediction.predictions.tolist(),
                      probabilities=prediction.probabilities.tolist(), classes=model.classes)


def _check_answer_size(n_rows: int, model: Model, max_values: int) -> None:
    """Refuse, before any work, an answer of more than ``max_values`` numbers.

    A 1,000-class model answering 100,000 rows would write 10^8 probabilities (gigabytes of
    JSON, built in memory), so the answer is bounded, not only the rows.
    """
    per_row = len(model.classes) if model.classes is not None else model.network.layer_sizes[-1]
    what = "classes" if model.classes is not None else "targets"
    if n_rows * per_row > max_values:
        raise InvalidRequest([{"pointer": "/inputs", "detail": f"{n_rows} rows x {per_row} {what} is "
                               f"{n_rows * per_row} numbers to answer, at most {max_values} (limit "
                               f"max_predict_values); send at most {max_values // per_row} rows "
                               "per request"}])


def _check_width(inputs: list[list[float]], n_features: int) -> None:
    widths = {len(row) for row in inputs}
    if widths == {n_features}:
        return
    if len(widths) == 1:
        raise InvalidRequest([{"pointer": "/inputs", "detail": f"the model takes {n_features} "
                               f"features per row, got {widths.pop()}"}])
    index = next(index for index, row in enumerate(inputs) if len(row) != n_features)
    raise InvalidRequest([{"pointer": f"/inputs/{index}", "detail": f"the model takes {n_features} "
                           f"features per row, got {len(inputs[index])}"}])
