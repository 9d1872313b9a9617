"""GET /v1/jobs/{job_id}/network: every neuron of the job's network over the input plane, and its weights.

The dashboard's network view draws it as the TensorFlow Playground does: the inputs, each hidden
layer and the output as columns of small heatmaps, joined by links coloured by the weight's sign
and as thick as its magnitude. The page computes each neuron's grid itself, by one batched forward
pass over the plane from the weights here: docs/benchmarks.md ("network view") measured that
against grids computed here for a 6x8 network at 50x50 (about 1 MB of JSON and 70 ms a
checkpoint, against 4 kB and a few ms in the browser). ``grids=true`` still computes them here
(mlp.activity, one re-entrant forward pass), which the tests use as the page's oracle.

The input plane is the data's two features, or, for a dataset of the playground's features
(x1, x2, their squares, product and sines), the plane of x1 and x2 that those are computed from.
Any other dataset gets the weights without heatmaps (``reason`` says why). Answers are cached as
the boundary's are: by (job, source, epoch, resolution), since given weights never change.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np
from flask import Response
from pydantic import BaseModel, Field

from mlp import Model, Task, layer_outputs

from .boundary import MAX_POINTS, current_weights, dataset_deleted, first_column, latest_weights, sample_rows
from .boundary import validation_rows
from ..app_state import app_state
from ..database import get_session
from ..errors import Conflict, InvalidRequest, problem_docs
from ..http import JSON
from . import resource_blueprint
from .jobs import find_job
from ..tables import Dataset, Job
from ..plane import Plane as InputPlane, input_plane
from ..schemas import JobPath, Label
from ..storage import decode_arrays
from ..tabular import prepare

DEFAULT_RESOLUTION, MAX_RESOLUTION = 30, 100
# The page draws every weight and runs the network over the plane itself: past this many
# parameters the answer passes a megabyte and the page's pass a second, and a picture of so many
# links says little. With 32 answers cached, at most about 30 MB per process.
blueprint = resource_blueprint("network_view", __name__, "/v1/jobs", tag="jobs")

MAX_VIEW_PARAMETERS = 100_000
MAX_GRID_CELLS = 1_000_000  # grids=true: neurons x resolution^2, about 7 MB of JSON.
DECIMALS = 3  # A heatmap cell needs no more, and it keeps a network's answer small.
CACHE_SIZE = 32


class NetworkQuery(BaseModel):
    resolution: int = Field(DEFAULT_RESOLUTION, ge=2, le=MAX_RESOLUTION,
                            description="Grid cells along each axis of the input plane.")
    grids: bool = Field(False, description="Also every neuron's values over the plane, computed here "
                        "(about 1 MB for a 6x8 network at 50x50); the dashboard computes them itself "
                        "from the weights.")


class LayerOut(BaseModel):
    activation: str = Field(..., description="The hidden layer's activation; the output layer's is the loss's "
                            "link: `sigmoid`/`softmax` (probabilities) or `linear` (values).")
    weights: list[list[float]] = Field(..., description="(fan_in, fan_out): weights[i][j] joins neuron i "
                                       "of the layer below to neuron j of this one.")
    biases: list[float] = Field(..., description="(fan_out,)")


class Plane(BaseModel):
    x_name: str
    y_name: str
    x: list[float] = Field(..., description="(resolution,) grid coordinates along the plane's first axis.")
    y: list[float] = Field(..., description="(resolution,) along its second.")
    points: list[list[float]] = Field(..., description=f"Up to {MAX_POINTS} rows, each [x, y] on the plane.")
    targets: list[float] = Field(..., description="Each point's class index, or value.")
    validation: list[bool] = Field(..., description="Whether each point is a validation (test) row.")


class NetworkOut(BaseModel):
    """The job's network: its weights, and each neuron's output over the input plane when there is one."""

    epoch: int | None = Field(..., description="The epoch whose weights these are; null before the first "
                              "checkpoint (then `layers` and `grids` are null).")
    source: Literal["model", "checkpoint"] | None
    task: Task
    classes: list[Label] | None
    inputs: list[str] = Field(..., description="The input features' names.")
    layers: list[LayerOut] | None = Field(..., description="Each layer after the input: the hidden ones, then the output.")
    mean: list[float] | None = Field(..., description="(n_features,) the inputs are (row - mean) / std "
                                     "before the first layer.")
    std: list[float] | None
    target_mean: list[float] | None = Field(..., description="Regression: output * target_std + "
                                            "target_mean is the value; null when targets were not scaled.")
    target_std: list[float] | None
    plane: Plane | None = Field(..., description="The input plane the grids span; null when there is none.")
    grids: list[list[list[list[float]]]] | None = Field(..., description="grids[l][n]: (resolution, resolution) "
                                                         "values of neuron n of column l (0: the inputs, then each "
                                                         "layer), row i at plane.y[i], column j at plane.x[j].")
    reason: str | None = Field(..., description="Why there are no heatmaps, when `plane` is null.")


@blueprint.get("/<job_id>/network", responses={200: NetworkOut, **problem_docs(404, 409, 422)})
def get_network(path: JobPath, query: NetworkQuery):
    """The job's weights and every neuron's output over the input plane, from its model or latest checkpoint.

    409 when the dataset is gone, the weights cannot be read, or the network has more than
    100,000 weights and biases (the view's limit).
    """
    job = find_job(path.job_id)  # The tenant check: every request, before any cached answer.
    return Response(cached_network(job, query.resolution, query.grids), mimetype=JSON)


def cached_network(job: Job, resolution: int, with_grids: bool) -> str:
    if job.dataset_id is None:
        raise dataset_deleted()
    answers = app_state().network_cache
    source, epoch = current_weights(job)
    text = answers.get((job.id, source, epoch, resolution, with_grids))
    if text is None:
        answer = job_network(job, resolution, with_grids)
        text = answer.model_dump_json()
        answers.put((job.id, answer.source, answer.epoch, resolution, with_grids), text)
    return text


def job_network(job: Job, resolution: int, with_grids: bool) -> NetworkOut:
    dataset = None if job.dataset_id is None else get_session().get(Dataset, job.dataset_id)
    if dataset is None:
        raise dataset_deleted()
    sizes = view_sizes(job.spec, dataset)
    n_parameters = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))
    if n_parameters > MAX_VIEW_PARAMETERS:  # Checked before any weights are read.
        raise Conflict(f"the network view draws networks of at most {MAX_VIEW_PARAMETERS} weights and biases; "
                       f"this one has {n_parameters}")
    if with_grids and sum(sizes) * resolution ** 2 > MAX_GRID_CELLS:
        raise InvalidRequest([{"parameter": "resolution", "detail": f"{sum(sizes)} neurons at {resolution}x"
                               f"{resolution} pass {MAX_GRID_CELLS} grid cells; ask for a lower resolution"}])
    features, stored_targets = decode_arrays(dataset.data)
    names = dataset.feature_names or [f"feature {index + 1}" for index in range(dataset.n_features)]
    found = input_plane(dataset.feature_names, features, resolution)
    if dataset.table_schema is not None and not isinstance(found, str) and np.isnan(features).any():
        found = "a column has missing values"
    plane_axes, reason = (None, f"only the weights, no heatmaps: {found}") if isinstance(found, str) else (found, None)
    if plane_axes is not None:  # The grids at the coordinates the answer gives, not finer ones.
        plane_axes = replace(plane_axes, x=plane_axes.x.round(DECIMALS), y=plane_axes.y.round(DECIMALS))
    plane = None
    if plane_axes is not None:
        shown = sample_rows(len(features), MAX_POINTS)
        points = plane_axes.points(features[shown])
        if len(points) == 0:
            shown = shown[:0]
        plane = Plane(x_name=plane_axes.x_name, y_name=plane_axes.y_name, x=plane_axes.x.round(DECIMALS).tolist(),
                      y=plane_axes.y.round(DECIMALS).tolist(), points=points.round(DECIMALS).tolist(),
                      targets=first_column(stored_targets[shown]).round(DECIMALS).tolist(),
                      validation=validation_rows(job.spec, dataset, stored_targets)[shown].tolist())
    answer = NetworkOut(epoch=None, source=None, task=dataset.task, classes=dataset.classes, inputs=names,
                        layers=None, mean=None, std=None, target_mean=None, target_std=None, plane=plane,
                        grids=None, reason=reason)
    weights = latest_weights(job, dataset, features, stored_targets)
    if weights is None:
        return answer
    model, answer.epoch, answer.source, preprocessing = weights
    if preprocessing is not None:  # An upload's one-hot and missing columns are the network's inputs.
        answer.inputs = list(preprocessing["outputs"])
    answer.layers = network_layers(model)
    answer.mean, answer.std = _listed(model.mean), _listed(model.std)
    answer.target_mean, answer.target_std = _listed(model.target_mean), _listed(model.target_std)
    if plane_axes is not None and with_grids:
        answer.grids = neuron_grids(model, plane_axes, preprocessing)
    return answer


def view_sizes(spec: dict, dataset: Dataset) -> list[int]:
    """[n_features, *hidden units, n_outputs] of the job's network, from its spec and dataset."""
    n_classes = len(dataset.classes) if dataset.classes else 0
    n_inputs = (dataset.table_schema or {}).get("n_inputs", dataset.n_features)
    return [n_inputs, *(layer["units"] for layer in spec.get("layers", [])), n_classes if n_classes > 2 else 1]


def _listed(values) -> list[float] | None:
    return None if values is None else np.asarray(values, dtype=np.float64).ravel().tolist()


def neuron_grids(model: Model, plane: InputPlane, preprocessing: dict | None = None) -> list:
    """grids[l][n] (len(y), len(x)) nested lists: the inputs, then every layer's neurons."""
    inputs = prepare(preprocessing, plane.features())
    try:
        outputs = layer_outputs(model, inputs)
    except FloatingPointError as error:
        raise Conflict(f"the network cannot be evaluated over this data's range: {error}") from None
    shape = (len(plane.y), len(plane.x))
    return [[np.nan_to_num(values[:, neuron]).reshape(shape).round(DECIMALS).tolist()
             for neuron in range(values.shape[1])] for values in [inputs, *outputs]]


def network_layers(model: Model) -> list[LayerOut]:
    network = model.network
    output_link = {"binary_cross_entropy": "sigmoid", "cross_entropy": "softmax"}.get(model.meta["loss"], "linear")
    activations = [*network.activations, output_link]
    return [LayerOut(activation=activation, weights=np.asarray(weights, dtype=np.float64).round(4).tolist(),
                     biases=np.asarray(biases, dtype=np.float64).round(4).tolist())
            for activation, weights, biases in zip(activations, network.weights, network.biases)]

