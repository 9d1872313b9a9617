"""/v1/jobs: submit a training job, list and show jobs, page through their metrics, cancel them,
predict with a job's model.

The database is the source of truth: a job row commits before its message is published, and
a cancel is one of :mod:`service.job_states`' conditional updates, as the worker's moves are, so
neither side can undo the other.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from mlp import DataShape, Footprint, NetworkSpec, bind_spec, estimate_footprint

from . import resource_blueprint
from ..auth import current_tenant
from ..database import get_session, utcnow
from ..errors import Conflict, InvalidRequest, NotFound, TooManyRequests, echo, invalid_body, problem_docs
from ..http import JSON, body_docs, current_settings, json_body, json_response
from ..job_states import ACTIVE_STATUSES, CANCEL_MOVES, CANCELLING, FINISHED_STATUSES, QUEUED, by_service
from ..tables import Dataset, EpochMetric, Job, Tenant
from ..paging import newest_first
from ..predict import predict_body_docs, predict_request
from ..quota import ensure_room
from ..queue import publish_job
from ..schemas import (
    JobCreate, JobError, JobEstimate, JobListQuery, JobOut, JobPage, JobPath, MetricsPage, MetricsQuery, PredictOut,
)

blueprint = resource_blueprint("jobs", __name__, "/v1/jobs")

# A status can change between reading it and the conditional update; a few rounds settle it.
CANCEL_ROUNDS = 3
# No one knows when a tenant's running job will end; a few seconds is a polite first retry.
JOB_SLOT_RETRY_SECONDS = 5


@blueprint.post("", responses={202: JobOut, 200: JobEstimate, **problem_docs(400, 409, 413, 415, 422, 429, 507)},
                openapi_extensions=body_docs(blueprint, {JSON: JobCreate}, {
                    "dataset_id": "5f0c3e2a9b7d4c1e8a6f2b3d4e5f6a7b",
                    "spec": {"layers": [{"units": 16, "activation": "tanh"}, {"units": 16, "activation": "tanh"}],
                             "epochs": 300, "batch_size": 10, "optimizer": {"name": "adam", "learning_rate": 0.03}}}))
def create_job():
    """Queue a training job for a dataset; a spec that cannot train on that dataset is a 422 here.

    With ``dry_run: true`` nothing is queued: the answer is a 200 with the estimate.
    Rules the schema cannot hold, each a 422 naming the field: an unknown dataset_id (`/dataset_id`;
    the route exists, the body refers to nothing); a loss that does not fit the dataset's task, or
    `binary_cross_entropy` for other than two classes (`/spec/loss`); a `val_*` monitor (in
    `early_stopping` or a `plateau` schedule) with `validation_split: 0`, or a monitor that is not a
    metric of the dataset's task (`/spec/early_stopping`, `/spec/schedule`); a `cosine` schedule whose
    `warmup_epochs` is not fewer than `epochs` (`/spec/schedule`); more than max_parameters weights
    and biases for the dataset's features and outputs (`/spec/layers`); an estimated training memory
    over max_training_bytes (`/spec`, `/spec/batch_size`, `/spec/layers`). A tenant with
    max_active_jobs queued or running jobs gets a 429 with Retry-After.
    """
    body = json_body(JobCreate, context={"limits": current_settings().limits})
    if body.dry_run:
        return json_response(estimate_job(body))
    job = submit_job(body)
    return json_response(job_out(job), 202, {"Location": f"/v1/jobs/{job.id}"})


@blueprint.get("", responses={200: JobPage, **problem_docs(422)})
def list_jobs(query: JobListQuery):
    """List jobs, newest first, optionally only those with one status."""
    selection = select(Job).where(Job.tenant == current_tenant())
    if query.status is not None:
        selection = selection.where(Job.status == query.status)
    rows, following, next_cursor = newest_first(get_session(), Job, selection, query.cursor, current_settings().page_size,
                                   "/v1/jobs", {"status": query.status})
    return json_response(JobPage(items=[job_out(row) for row in rows], next=following,
                                 next_cursor=next_cursor))


@blueprint.get("/<job_id>", responses={200: JobOut, **problem_docs(404)})
def get_job(path: JobPath):
    """Show one job: status, progress, latest metrics, error and model."""
    return json_response(job_out(find_job(path.job_id)))


@blueprint.get("/<job_id>/metrics", responses={200: MetricsPage, **problem_docs(404, 422)})
def list_metrics(path: JobPath, query: MetricsQuery):
    """Every epoch's record in epoch order, a page at a time (``next`` continues after the last epoch)."""
    return json_response(metrics_page(path.job_id, query.after))


@blueprint.post("/<job_id>/cancel", responses={202: JobOut, **problem_docs(404, 409)})
def cancel_job(path: JobPath):
    """Cancel a job: a queued one at once, a running one at its next epoch boundary; 409 once finished."""
    return json_response(job_out(request_cancel(path.job_id)), 202)


@blueprint.post("/<job_id>/predict", responses={200: PredictOut, **problem_docs(400, 404, 409, 413, 415, 422)},
                openapi_extensions=predict_body_docs(blueprint))
def predict_with_job(path: JobPath):
    """Predict with the model the job trained, as /v1/models/{model_id}/predict does; 409 while it has none.

    Rows by name (records, `columns` + `data`, CSV with a header) for a model trained on an upload.

    Rules the schema cannot hold, each a 422 naming the place: rows of another width than the model's
    features (`/inputs`, or `/inputs/<i>` for the first odd row); rows x classes (or targets) over
    max_predict_values (`/inputs`); values a float32 model cannot hold (`/inputs`). A CSV body
    meets the same rules, a cell that is not a finite number named as `/inputs/<row>/<column>`, and no
    rows at all as `/inputs`.
    """
    job = find_job(path.job_id)
    if job.model_id is None:
        raise Conflict(_no_model_reason(job))
    return json_response(predict_request(job.model_id), exclude_none=True)


def _no_model_reason(job: Job) -> str:
    if job.status == "failed":
        return f"the job failed ({job.error_message or job.error_type}), so it has no model to predict with"
    return f"the job is {job.status}; it has a model to predict with once it has succeeded"


def job_out(job: Job) -> JobOut:
    error = None if job.error_type is None else JobError(type=job.error_type, message=job.error_message or "")
    return JobOut(
        id=job.id, status=job.status, dataset_id=job.dataset_id, spec=job.spec, epoch=job.epoch,
        epochs=job.epochs, progress=min(job.epoch / job.epochs, 1.0) if job.epochs else 0.0,
        metrics=job.metrics, attempts=job.attempts, error=error, model_id=job.model_id,
        created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
        train_seconds=job.train_seconds, sweep_id=job.sweep_id, trial=job.trial,
    )


def find_job(job_id: str) -> Job:
    """The current tenant's job ``job_id``; another tenant's is as unknown as a missing one."""
    # populate_existing: a status the worker committed since this session last read the row.
    job = get_session().get(Job, job_id, populate_existing=True)
    if job is None or job.tenant != current_tenant():
        raise NotFound("job", job_id)
    return job


def estimate_job(body: JobCreate) -> JobEstimate:
    """The cost of training the body's spec on its dataset, against max_training_bytes (queues nothing)."""
    _, _, footprint = _checked_spec(body)
    limit = current_settings().max_training_bytes
    return JobEstimate(**footprint.model_dump(), max_training_bytes=limit,
                       within_limit=footprint.training_bytes <= limit)


def _checked_spec(body: JobCreate) -> tuple[Dataset, NetworkSpec, Footprint]:
    """The tenant's dataset, the spec bound to its shape, and what training it would cost (422s)."""
    settings = current_settings()
    dataset = get_session().get(Dataset, body.dataset_id)
    if dataset is None or dataset.tenant != current_tenant():
        raise _unknown_dataset(body.dataset_id)
    # An upload's one-hot and missing columns widen the network's inputs: at most n_inputs of them.
    n_inputs = (dataset.table_schema or {}).get("n_inputs", dataset.n_features)
    shape = DataShape(dataset.task, n_inputs, len(dataset.classes) if dataset.classes else None)
    try:
        spec = bind_spec(body.spec, shape, settings.limits)
    except ValidationError as error:
        raise invalid_body(error, body.spec.model_dump(), prefix="/spec") from None
    return dataset, spec, estimate_footprint(spec, shape, dataset.n_samples)


def _refuse_over_memory(footprint: Footprint, limit: int) -> None:
    """422 naming what makes the estimate exceed ``limit``: the spec, its batch, its layers, the data."""
    if footprint.training_bytes <= limit:
        return
    parts = footprint.parts
    errors = [
        {"pointer": "/spec", "detail": f"training would need an estimated {_mib(footprint.training_bytes)} "
         f"({footprint.training_bytes} bytes), over {limit} bytes (limit max_training_bytes); "
         "POST it with dry_run: true for the estimate"},
        {"pointer": "/spec/batch_size", "detail": f"the layers' buffers for one batch take {_mib(parts['batch'])}; "
         "a smaller batch_size needs proportionally less"},
        {"pointer": "/spec/layers", "detail": f"{footprint.parameters} parameters with their gradients and "
         f"optimizer state take {_mib(parts['parameters'] + parts['optimizer'])}"},
    ]
    if parts["inputs"] + parts["data"] > parts["batch"]:
        errors.append({"pointer": "/dataset_id", "detail": f"the dataset itself takes "
                       f"{_mib(parts['inputs'] + parts['data'])} while training"})
    raise InvalidRequest(errors)


def _mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.0f} MiB"


def submit_job(body: JobCreate) -> Job:
    """Check the spec against the dataset and its memory, take one of the tenant's job slots, commit the job,
    then publish it."""
    settings, tenant = current_settings(), current_tenant()
    session = get_session()
    dataset, spec, footprint = _checked_spec(body)
    _refuse_over_memory(footprint, settings.max_training_bytes)
    _take_job_slot(tenant, settings.max_active_jobs)
    ensure_room(session, tenant, 0, settings.storage_quota_bytes, "a new job")
    job = Job(tenant=tenant, dataset_id=dataset.id, spec=spec.model_dump(mode="json"), status=QUEUED,
              epochs=spec.epochs)
    session.add(job)
    try:
        session.commit()
    except IntegrityError:  # The dataset was deleted between the read and the insert.
        session.rollback()
        raise _unknown_dataset(body.dataset_id) from None
    # After the commit: a worker must find the row. If the broker is down the job stays queued
    # and unpublished, and the reconciler publishes it later.
    if publish_job(job.id):
        job.published_at = utcnow()
        session.commit()
    return job


def _take_job_slot(tenant: str, max_active_jobs: int) -> None:
    """Refuse (429) a tenant already at ``max_active_jobs``; else leave its row locked until the commit.

    The no-op update takes the tenant's row lock on PostgreSQL and the write lock on SQLite, so
    two submissions of one tenant count their active jobs one after the other, never both under
    the cap at once.
    """
    session = get_session()
    session.execute(update(Tenant).where(Tenant.name == tenant).values(name=Tenant.name),
                    execution_options={"synchronize_session": False})
    active = session.scalar(select(func.count()).select_from(Job)
                            .where(Job.tenant == tenant, Job.status.in_(ACTIVE_STATUSES)))
    if active >= max_active_jobs:
        session.rollback()
        raise TooManyRequests(f"this tenant already has {active} queued or running jobs (limit max_active_jobs); "
                              "wait for one to finish or cancel one", JOB_SLOT_RETRY_SECONDS)


def _unknown_dataset(dataset_id: str) -> InvalidRequest:
    return InvalidRequest([{"pointer": "/dataset_id", "detail": f"no dataset with id '{echo(dataset_id)}'"}])


def metrics_page(job_id: str, after: int | None) -> MetricsPage:
    find_job(job_id)
    page_size = current_settings().page_size
    query = select(EpochMetric).where(EpochMetric.job_id == job_id)
    if after is not None:
        query = query.where(EpochMetric.epoch > after)
    rows = get_session().scalars(query.order_by(EpochMetric.epoch).limit(page_size + 1)).all()
    following = next_after = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        next_after = rows[-1].epoch
        following = f"/v1/jobs/{job_id}/metrics?after={next_after}"
    return MetricsPage(items=[row.record for row in rows], next=following, next_after=next_after)


def request_cancel(job_id: str) -> Job:
    """Move the job towards ``cancelled`` with conditional updates the worker cannot race."""
    session = get_session()
    for _ in range(CANCEL_ROUNDS):
        job = find_job(job_id)
        if job.status == CANCELLING:
            return job
        if job.status in FINISHED_STATUSES:
            raise Conflict(f"the job has already finished ({job.status})")
        result = session.execute(by_service(CANCEL_MOVES[job.status], job_id, job.status),
                                 execution_options={"synchronize_session": False})
        session.commit()
        if result.rowcount == 1:
            return find_job(job_id)
    raise Conflict("the job's status kept changing; try again")
