"""Prediction: trained models loaded from the database once per process and kept in an LRU cache.

A model never changes after its job succeeds, so a cached one needs no database read, which is
what keeps single-row predict in the low milliseconds. ``mlp.Model`` applies the standardisation
stored with the weights. Each cached model keeps its tenant, so a cache hit is scoped as a
database read would be.
"""

from __future__ import annotations

import numpy as np
from flask import request
from flask_openapi3 import APIBlueprint
from sqlalchemy import select
from sqlalchemy.orm import undefer

from mlp import DataError, Model

from .app_state import app_state
from .auth import current_tenant
from .csv_input import read_predict_csv
from .database import get_session
from .errors import InvalidRequest, NotFound
from .http import CSV, JSON, body_docs, current_settings, negotiate, read_json, validate_json
from .metrics import PREDICT_SECONDS
from .tables import TrainedModel
from .schemas import PredictOut, PredictRequest

CSV_BODY_DOC = {"type": "string", "description": "Rows of numbers, one per line; a header row is skipped."}


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


def read_predict_request() -> PredictRequest:
    """The request's rows, from JSON ``inputs`` or ``text/csv``, checked against max_predict_rows."""
    document = read_json() if negotiate(JSON, CSV) == JSON else {"inputs": read_predict_csv(request.get_data())}
    return validate_json(PredictRequest, document, context={"max_predict_rows": current_settings().max_predict_rows})


def predict_body_docs(blueprint: APIBlueprint) -> dict:
    """The OpenAPI request body of a predict route: JSON inputs or CSV rows."""
    return body_docs(blueprint, {JSON: PredictRequest, CSV: CSV_BODY_DOC}, {"inputs": [[0.5, -1.2], [3.0, 0.1]]})


@PREDICT_SECONDS.time()
def predict(model_id: str, inputs: list[list[float]]) -> PredictOut:
    """Predict ``inputs`` (n_rows, n_features) with the model; 422 naming /inputs on a wrong width."""
    model = load_model(model_id)
    _check_width(inputs, model.n_features)
    _check_answer_size(len(inputs), model, current_settings().max_predict_values)
    try:
        prediction = model.predict(np.asarray(inputs, dtype=np.float64))
    except DataError as error:  # Finite inputs the model's float32 arithmetic cannot hold.
        raise InvalidRequest([{"pointer": "/inputs", "detail": error.message}]) from None
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
