"""POST /v1/jobs/from-playground and GET /v1/jobs/{job_id}/playground: TensorFlow Playground URLs in and out.

The import makes the dataset (a playground generator) and the job (the network the URL asks for)
and answers as ``POST /v1/jobs`` does. Every key of the URL is checked before anything is stored;
if the job is then refused (a spec the data cannot take, the tenant's job cap), the dataset made
for it is deleted again, so a refused import leaves nothing behind.
"""

from __future__ import annotations

from flask import Response
from pydantic import BaseModel, Field, ValidationError

from mlp import GENERATORS, DataShape, GeneratorSpec, NetworkSpec, bind_spec

from ..database import get_session
from .datasets import create_from_generator, remove_dataset
from ..errors import ApiError, InvalidRequest, problem_docs
from ..http import JSON, body_docs, current_settings, json_body, json_response
from . import resource_blueprint
from .jobs import find_job, job_out, submit_job
from ..tables import Dataset
from ..playground_url import PlaygroundError, parse, to_url
from ..schemas import DatasetFromGenerator, JobCreate, JobOut, JobPath, RequestModel


# The playground's classic circle, as its address bar shows it.
blueprint = resource_blueprint("playground", __name__, "/v1/jobs", tag="jobs")

PLAYGROUND_EXAMPLE = ("https://playground.tensorflow.org/#activation=tanh&batchSize=10&dataset=circle"
                      "&regDataset=reg-plane&learningRate=0.03&regularizationRate=0&noise=0&networkShape=4,2"
                      "&seed=0.72826&showTestData=false&discretize=false&percTrainData=50&x=true&y=true"
                      "&xTimesY=false&xSquared=false&ySquared=false&cosX=false&sinX=false&cosY=false&sinY=false"
                      "&collectStats=false&problem=classification&initZero=false&hideText=false")


class PlaygroundImport(RequestModel):
    url: str = Field(..., min_length=1, max_length=4096, description="A TensorFlow Playground URL, or "
                     "its fragment alone (`activation=tanh&batchSize=10&...`, with or without `#`).")
    epochs: int | None = Field(None, ge=1, description="Epochs to train (the playground trains until "
                               "stopped); default 300. Early stopping is off, as in the playground.")


class PlaygroundLink(BaseModel):
    url: str | None = Field(..., description="The job as a TensorFlow Playground URL; null when the "
                            "playground cannot express it.")
    reasons: list[str] = Field(..., description="Why not, when `url` is null.")


@blueprint.post("/from-playground", responses={202: JobOut, **problem_docs(400, 413, 415, 422, 429)},
                openapi_extensions=body_docs(blueprint, {JSON: PlaygroundImport},
                                             {"url": PLAYGROUND_EXAMPLE, "epochs": 300}),
                provide_automatic_options=False)  # _import_options answers OPTIONS.
def create_job_from_playground():
    """Make a dataset and a job from a TensorFlow Playground URL; a key it cannot take is a 422 naming it.

    The URL's seed names the data (numpy draws the points, so they differ from the playground's
    own); weights start as the playground's (U(-0.5, 0.5), biases 0.1), inputs are not
    standardised, training is plain SGD for `epochs` epochs.
    """
    body = json_body(PlaygroundImport)
    try:
        experiment = parse(body.url)
    except PlaygroundError as error:
        raise InvalidRequest([{"pointer": "/url", "detail": f"{key}: {why}"} for key, why in error.problems.items()]) from None
    spec = dict(experiment.spec, **({"epochs": body.epochs} if body.epochs is not None else {}))
    network_spec = _checked_spec(experiment.generator, spec)
    dataset = create_from_generator(DatasetFromGenerator(name=experiment.dataset_name,
                                                         generator=GeneratorSpec(**experiment.generator)))
    try:
        job = submit_job(JobCreate.model_construct(dataset_id=dataset.id, spec=network_spec))
    except ApiError:
        get_session().rollback()
        remove_dataset(dataset.id)
        raise
    return json_response(job_out(job), 202, {"Location": f"/v1/jobs/{job.id}"})


def _import_options():
    """OPTIONS names POST alone: the path also matches GET /v1/jobs/{job_id}, where it is no job's id."""
    return Response(status=204, headers={"Allow": "POST, OPTIONS"})


# Plain Flask (not the OpenAPI document): Werkzeug's own answer would list that GET as well.
blueprint.add_url_rule("/from-playground", "from_playground_options", _import_options, methods=["OPTIONS"],
                       provide_automatic_options=False)


def _checked_spec(generator: dict, spec: dict) -> NetworkSpec:
    """The spec, checked against the data it will get before that data is stored (422 on /url)."""
    limits = current_settings().limits
    task = GENERATORS[generator["kind"]][1]
    shape = DataShape(task, len(generator["features"]), 2 if task == "classification" else None)
    try:
        network_spec = NetworkSpec.model_validate(spec, context={"limits": limits})
        bind_spec(network_spec, shape, limits)
    except ValidationError as error:  # Beyond a limit of this server (units, layers, epochs).
        details = "; ".join(f"{'/'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise InvalidRequest([{"pointer": "/url", "detail": f"the network it asks for: {details}"}]) from None
    return network_spec


@blueprint.get("/<job_id>/playground", responses={200: PlaygroundLink, **problem_docs(404)})
def get_playground_link(path: JobPath):
    """The job as a TensorFlow Playground URL, or why the playground cannot express it."""
    job = find_job(path.job_id)
    dataset = None if job.dataset_id is None else get_session().get(Dataset, job.dataset_id)
    if dataset is None:
        return json_response(PlaygroundLink(url=None, reasons=["the job's dataset has been deleted"]))
    url, reasons = to_url(job.spec, dataset.task, dataset.name, dataset.feature_names, current_settings().limits)
    return json_response(PlaygroundLink(url=url, reasons=reasons))
