"""GET /v1/jobs/{job_id}/boundary: what the network predicts over a grid of a 2-feature dataset.

The dashboard draws it as a heatmap with the training points on top. The weights are the job's
model once it has one, else its latest checkpoint, which holds no standardisation: the data is
prepared again exactly as the worker prepared it (same spec, same split), and the checkpoint is
loaded into that state. Before the first checkpoint the answer has the grid's axes and the points
but no predictions (``epoch`` null), so the page can draw the data at once.

Computing an answer decodes the whole dataset, prepares it again and predicts up to 200x200
points, so each app keeps the latest answers' JSON in an LRU cache keyed by (job, source, epoch,
resolution): a model, or a checkpoint at a given epoch, never changes, so neither can its answer.
The job is still looked up (the tenant check) on every request before the cache is consulted.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from flask import Response, current_app
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

import mlp
from mlp import CheckpointMismatchError, DataError, FormatError, Model, NetworkSpec, Task

from ..app_state import app_state
from ..database import get_session
from ..errors import Conflict, problem_docs
from ..http import JSON, current_settings
from . import resource_blueprint
from .jobs import find_job
from ..tables import Checkpoint, Dataset, Job
from ..plane import Plane, input_plane
from ..predict import load_model
from ..schemas import JobPath, Label
from ..storage import decode_arrays, training_targets
from ..tabular import fit_for_training, prepare
from ..tabular.schema import EXCLUDED_KINDS

DEFAULT_RESOLUTION, MAX_RESOLUTION = 60, 200
# Enough points to show the data's shape; thousands would hide the heatmap under them.
blueprint = resource_blueprint("boundary", __name__, "/v1/jobs", tag="jobs")

MAX_POINTS = 300
DECIMALS = 4  # Plenty for a picture, and it keeps a 200x200 answer small.
# At most about 0.5 MB of JSON each (200x200), so 16 MB per process at worst; enough for the
# jobs a few dashboards are watching, each at its latest epoch.
CACHE_SIZE = 32


class BoundaryQuery(BaseModel):
    resolution: int = Field(DEFAULT_RESOLUTION, ge=2, le=MAX_RESOLUTION,
                            description="Grid cells along each feature.")


class BoundaryOut(BaseModel):
    """A grid over the dataset's two features, what the network predicts on it, and some training points."""

    epoch: int | None = Field(..., description="The epoch whose weights are drawn: a checkpoint's finished "
                              "epochs, or the model's epoch (the best one when early stopping restored "
                              "its weights, so it can be below the job's last epoch); null before the "
                              "first checkpoint, when `predicted` and `confidence` are null too.")
    source: Literal["model", "checkpoint"] | None = Field(..., description="Where the weights came from.")
    task: Task
    classes: list[Label] | None = Field(..., description="Class labels; `predicted` and `targets` index them.")
    feature_names: list[str] | None
    x: list[float] = Field(..., description="(resolution,) grid coordinates along the first feature.")
    y: list[float] = Field(..., description="(resolution,) grid coordinates along the second feature.")
    predicted: list[list[float]] | None = Field(..., description="(resolution, resolution), row i at y[i], "
                                                "column j at x[j]: the class index, or the (first target's) value.")
    confidence: list[list[float]] | None = Field(..., description="Same shape: the predicted class's "
                                                 "probability (classification only).")
    points: list[list[float]] = Field(..., description=f"Up to {MAX_POINTS} training rows, each [x, y].")
    targets: list[float] = Field(..., description="Each point's class index, or (first target's) value.")
    validation: list[bool] = Field(..., description="Whether each point is in the job's validation split "
                                   "(the playground's test data), as the worker split the rows.")


@blueprint.get("/<job_id>/boundary", responses={200: BoundaryOut, **problem_docs(404, 409, 422)})
def get_boundary(path: JobPath, query: BoundaryQuery):
    """The job's predictions over a grid spanning its 2-feature dataset, from its model or latest checkpoint.

    409 when the dataset does not have exactly 2 features, is gone, or the weights cannot be read.
    """
    job = find_job(path.job_id)  # The tenant check: every request, before any cached answer.
    return Response(cached_boundary(job, query.resolution), mimetype=JSON)


def cached_boundary(job: Job, resolution: int) -> str:
    """The JSON answer for ``job`` at ``resolution``, computed once per set of weights it is drawn from."""
    if job.dataset_id is None:  # Checked first: a deleted dataset's points must not live on in the cache.
        raise dataset_deleted()
    answers = app_state().boundary_cache
    source, epoch = current_weights(job)
    text = answers.get((job.id, source, epoch, resolution))
    if text is None:
        boundary = job_boundary(job, resolution)
        text = boundary.model_dump_json()  # Pydantic writes NaN as null, so the JSON stays valid.
        # Under the weights actually drawn, which may be a checkpoint newer than current_weights saw.
        answers.put((job.id, boundary.source, boundary.epoch, resolution), text)
    return text


def current_weights(job: Job) -> tuple[str | None, int | None]:
    """(source, epoch) of the weights the job's boundary is drawn from now; (None, None) before any."""
    if job.model_id is None:
        # The epoch alone: on a cache hit the checkpoint's bytes are never needed.
        epoch = get_session().scalar(select(Checkpoint.epoch).where(Checkpoint.job_id == job.id))
        if epoch is not None:
            return "checkpoint", epoch
        if not _model_committed_since(job):
            return None, None
    return "model", job.epoch


def job_boundary(job: Job, resolution: int) -> BoundaryOut:
    """The answer for ``job`` on a ``resolution`` x ``resolution`` grid (axes and points only before any weights)."""
    dataset = None if job.dataset_id is None else get_session().get(Dataset, job.dataset_id)
    if dataset is None:
        raise dataset_deleted()
    features, stored_targets = decode_arrays(dataset.data)
    if dataset.table_schema is not None:
        _check_plane_columns(dataset.table_schema)
    plane = input_plane(dataset.feature_names, _imputed(features), resolution)
    if isinstance(plane, str):
        raise Conflict(f"a decision boundary is drawn over a plane: {plane}")
    shown = sample_rows(len(features), MAX_POINTS)
    shown = shown[~np.isnan(features[shown]).any(axis=1)]  # A row with a missing value has no place.
    points = plane.points(features[shown])
    if len(points) == 0:  # A playground dataset without x1 or x2: rows have no place on the plane.
        shown = shown[:0]
    boundary = BoundaryOut(
        epoch=None, source=None, task=dataset.task, classes=dataset.classes,
        feature_names=[plane.x_name, plane.y_name] if plane.playground else dataset.feature_names,
        x=plane.x.round(DECIMALS).tolist(), y=plane.y.round(DECIMALS).tolist(), predicted=None, confidence=None,
        points=points.round(DECIMALS).tolist(),
        targets=first_column(stored_targets[shown]).round(DECIMALS).tolist(),
        validation=validation_rows(job.spec, dataset, stored_targets)[shown].tolist(),
    )
    weights = latest_weights(job, dataset, features, stored_targets)
    if weights is None:
        return boundary
    model, boundary.epoch, boundary.source, preprocessing = weights
    boundary.predicted, boundary.confidence = predict_grid(model, plane, preprocessing)
    return boundary


def _check_plane_columns(schema: dict) -> None:
    """An upload's plane is over its two kept columns, which must both be numbers (or true/false)."""
    kept = [column for column in schema["columns"] if column["kind"] not in EXCLUDED_KINDS]
    odd = [f"'{column['name']}' is {column['kind']}" for column in kept if column["kind"] not in ("numeric", "boolean")]
    if odd:
        raise Conflict(f"a decision boundary is drawn over two numeric columns: {', '.join(odd)}")


def _imputed(features: np.ndarray) -> np.ndarray:
    """``features`` without its rows that have a missing value (the plane spans the rows it can place)."""
    complete = features[~np.isnan(features).any(axis=1)]
    return complete if len(complete) else np.zeros((1, features.shape[1]))


def dataset_deleted() -> Conflict:
    return Conflict("the job's dataset has been deleted, so there is no data to draw a boundary over")


def _model_committed_since(job: Job) -> bool:
    """Whether ``job``, read again, has a model after all.

    The worker's succeed() commits the model and deletes the checkpoint in one transaction. When
    that lands between find_job's read (no model yet) and the checkpoint's (gone), only a fresh
    read of the job shows the model; without it the answer would fall back to no weights at all.
    """
    # The session's identity map holds ``job``: populate_existing refreshes that same object.
    get_session().get(Job, job.id, populate_existing=True)
    return job.model_id is not None


def latest_weights(job: Job, dataset: Dataset, features: np.ndarray,
                    stored_targets: np.ndarray) -> tuple[Model, int, str, dict | None] | None:
    """(model, epoch, source, preprocessing) from the job's model, else its latest checkpoint; None
    when it has neither. The preprocessing (an upload's) turns the dataset's coded rows into the
    network's inputs; the worker fitted it on the same training split."""
    checkpoint = None if job.model_id is not None else get_session().get(Checkpoint, job.id)
    preprocessing = None
    if checkpoint is not None:
        targets = training_targets(stored_targets, dataset.classes)
        if dataset.table_schema is not None:
            features, preprocessing = fit_for_training(dataset.table_schema, dataset.classes, dataset.task,
                                                       features, stored_targets, job.spec)
        model = checkpoint_model(job.spec, checkpoint.data, features, targets, dataset.task)
        epoch, source = checkpoint.epoch, "checkpoint"
    elif job.model_id is not None or _model_committed_since(job):
        model = load_model(job.model_id)
        preprocessing = model.meta.get("preprocessing")
        # The model's own epoch: with restore_best its weights are the best epoch's, not the last's.
        epoch, source = (job.epoch if model.epoch is None else model.epoch), "model"
    else:
        return None
    n_inputs = len(preprocessing["outputs"]) if preprocessing is not None else dataset.n_features
    if model.n_features != n_inputs:  # Only a row written by hand can disagree with its dataset.
        raise Conflict(f"the job's weights take {model.n_features} features, its dataset has {n_inputs}")
    return model, epoch, source, preprocessing


def checkpoint_model(spec: dict, blob: bytes, features: np.ndarray, targets: np.ndarray, task: str) -> Model:
    """The model of a checkpoint's weights, with the standardisation the worker computed for them.

    Parameters
    ----------
    spec : the job's stored (bound) spec.
    blob : the checkpoint's bytes.
    features : (n_samples, n_features) the dataset's features.
    targets : (n_samples,) original labels, or values, as the worker gave them to the engine.
    """
    limits = current_settings().limits
    try:
        bound = NetworkSpec.model_validate(spec, context={"limits": limits})
        return mlp.checkpoint_model(blob, bound, features, targets, task, limits)  # On the CPU.
    except (ValidationError, DataError, CheckpointMismatchError, FormatError) as error:
        current_app.logger.warning("checkpoint not readable for a boundary: %s", error)
        raise Conflict(f"the job's latest checkpoint cannot be read: {error}") from None


def validation_rows(spec: dict, dataset: Dataset, stored_targets: np.ndarray) -> np.ndarray:
    """(n_samples,) bool: the rows the worker held out for validation, split as it split them."""
    # A stored spec is bound and complete; a row written by hand may leave these to their defaults.
    fields = NetworkSpec.model_fields
    return mlp.validation_rows(training_targets(stored_targets, dataset.classes), dataset.task,
                               spec.get("validation_split", fields["validation_split"].default),
                               spec.get("seed", fields["seed"].default))


def predict_grid(model: Model, plane: Plane, preprocessing: dict | None = None) -> tuple[list, list | None]:
    """The model's (predicted, confidence) over the plane's grid, each (len(y), len(x)) nested lists."""
    try:
        prediction = model.predict(prepare(preprocessing, plane.features()))
    except DataError as error:  # A range too wide for float32 arithmetic.
        raise Conflict(f"the network cannot be evaluated over this data's range: {error.message}") from None
    shape = (len(plane.y), len(plane.x))
    if prediction.probabilities is None:
        return first_column(prediction.predictions).reshape(shape).round(DECIMALS).tolist(), None
    indices = prediction.probabilities.argmax(axis=1)
    confidence = prediction.probabilities.max(axis=1)
    return indices.reshape(shape).astype(float).tolist(), confidence.reshape(shape).round(DECIMALS).tolist()


def sample_rows(n_samples: int, most: int) -> np.ndarray:
    """Sorted row indices, at most ``most`` of them; the same ones each call, so redraws do not jump."""
    if n_samples <= most:
        return np.arange(n_samples)
    return np.sort(np.random.default_rng(0).choice(n_samples, most, replace=False))


def first_column(values: np.ndarray) -> np.ndarray:
    """(n,) from (n,) or (n, n_targets) values: several regression targets show the first."""
    values = np.asarray(values, dtype=np.float64)
    return values if values.ndim == 1 else values[:, 0]
