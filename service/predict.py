"""Prediction: trained models loaded from the database once per process and kept in an LRU cache.

A model never changes after its job succeeds, so a cached one needs no database read, which is
what keeps single-row predict in the low milliseconds. ``mlp.Model`` applies the standardisation
stored with the weights.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import undefer

from mlp import DataError, Model

from .database import get_session
from .errors import InvalidRequest, NotFound
from .models import TrainedModel
from .schemas import PredictOut


class ModelCache:
    """The ``capacity`` most recently used models, by id; safe to share between threads."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._models: OrderedDict[str, Model] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model_id: str) -> Model | None:
        with self._lock:
            model = self._models.get(model_id)
            if model is not None:
                self._models.move_to_end(model_id)
            return model

    def put(self, model_id: str, model: Model) -> None:
        with self._lock:
            self._models[model_id] = model
            self._models.move_to_end(model_id)
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)

    def __contains__(self, model_id: str) -> bool:
        with self._lock:
            return model_id in self._models


def init_predict(app, capacity: int) -> None:
    app.extensions["axon.model_cache"] = ModelCache(capacity)


def find_model_row(model_id: str, with_artefact: bool = False) -> TrainedModel:
    query = select(TrainedModel).where(TrainedModel.id == model_id)
    if with_artefact:
        query = query.options(undefer(TrainedModel.artefact))
    row = get_session().scalars(query).one_or_none()
    if row is None:
        raise NotFound("model", model_id)
    return row


def load_model(model_id: str) -> Model:
    """The model ``model_id``, from the cache or else from the database (404 when unknown)."""
    cache: ModelCache = current_app.extensions["axon.model_cache"]
    model = cache.get(model_id)
    if model is None:
        # Two threads missing at once both load; the second put simply replaces the first.
        model = Model.from_bytes(find_model_row(model_id, with_artefact=True).artefact)
        cache.put(model_id, model)
    return model


def predict(model_id: str, inputs: list[list[float]]) -> PredictOut:
    """Predict ``inputs`` (n_rows, n_features) with the model; 422 naming /inputs on a wrong width."""
    model = load_model(model_id)
    _check_width(inputs, model.n_features)
    try:
        prediction = model.predict(np.asarray(inputs, dtype=np.float64))
    except DataError as error:  # Finite inputs the model's float32 arithmetic cannot hold.
        raise InvalidRequest([{"pointer": "/inputs", "detail": error.message}]) from None
    if model.task == "regression":
        return PredictOut(predictions=prediction.predictions.tolist())
    return PredictOut(predictions=prediction.predictions.tolist(),
                      probabilities=prediction.probabilities.tolist(), classes=model.classes)


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
