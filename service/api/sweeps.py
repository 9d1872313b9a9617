"""/v1/sweeps: start a hyperparameter sweep, list and show sweeps with their leaderboards, cancel one.

A sweep's trials are ordinary jobs (``/v1/jobs/{job_id}`` shows, cancels, streams and predicts
with each); :mod:`service.sweep_scheduler` creates them from the database, a few at a time.
Every trial's spec is drawn and validated here, before anything is stored, so a sweep that is
accepted never has a trial the API would have refused as a job.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import select

from mlp import METRICS_OF_TASK, DataShape, NetworkSpec, estimate_footprint

from . import resource_blueprint
from ..auth import current_tenant
from ..database import get_session
from ..errors import Conflict, InvalidRequest, NotFound, json_pointer, problem_docs
from ..errors import _message as validation_message
from ..http import JSON, body_docs, current_settings, json_body, json_response
from .jobs import _checked_spec, _refuse_over_memory
from ..tables import Dataset, Sweep
from ..paging import newest_first
from ..queue import publish_job
from ..quota import ensure_room
from ..sweep_board import sweep_out, sweep_summaries
from ..sweep_scheduler import advance, cancel
from ..sweep_schemas import MAX_TRIALS, AshaOptions, SweepCreate, SweepListQuery, SweepOut, SweepPage, SweepPath
from ..sweep_space import PointerError, all_trial_values, apply_values, axis_length, escape, grid_size

blueprint = resource_blueprint("sweeps", __name__, "/v1/sweeps")

EXAMPLE = {
    "dataset_id": "5f0c3e2a9b7d4c1e8a6f2b3d4e5f6a7b",
    "spec": {"layers": [{"units": 8, "activation": "tanh"}, {"units": 8, "activation": "tanh"}], "epochs": 100},
    "space": {"/optimizer/learning_rate": {"type": "log_uniform", "low": 0.001, "high": 0.1},
              "/batch_size": {"type": "choice", "values": [10, 32]}},
    "strategy": "random", "n_trials": 16, "objective": {"metric": "val_loss", "mode": "min"}, "max_parallel": 2,
}


@blueprint.post("", responses={202: SweepOut, **problem_docs(400, 409, 413, 415, 422)},
                openapi_extensions=body_docs(blueprint, {JSON: SweepCreate}, EXAMPLE))
def create_sweep():
    """Start a sweep: every trial's spec is drawn and validated now, then the first trials are queued.

    Each a 422 naming the place: an unknown dataset_id (`/dataset_id`); a base spec that cannot
    train on the dataset (`/spec/...`, as for a job); a space pointer that names no place in the
    spec, or a trial whose spec is invalid or over max_training_bytes (`/space/<the pointer,
    RFC 6901-escaped>`, the detail saying which trial and value); a grid over a continuous range
    (`/space/...`) or of more than 1000 trials (`/space`); `n_trials` missing (random, asha) or more
    than the grid holds (`/n_trials`); an objective that is not a metric of the dataset's task, or
    a `val_*` one without a validation split (`/objective/metric`); `asha` options for another
    strategy (`/asha`). Trials count against the tenant's max_active_jobs: a tenant at its cap gets
    a queued sweep, which starts as its jobs end.
    """
    settings = current_settings()
    body = json_body(SweepCreate, context={"limits": settings.limits})
    dataset, base, footprint = _checked_spec(body)
    _refuse_over_memory(footprint, settings.max_training_bytes)
    n_trials = _check_strategy(body)
    _check_trials(body, dataset, base.model_dump(mode="json"), n_trials)
    session, tenant = get_session(), current_tenant()
    ensure_room(session, tenant, 0, settings.storage_quota_bytes, "a new sweep")
    sweep = Sweep(tenant=tenant, dataset_id=dataset.id, spec=base.model_dump(mode="json"),
                  space={pointer: distribution.model_dump(mode="json") for pointer, distribution in body.space.items()},
                  strategy=body.strategy, asha=_asha_options(body), n_trials=n_trials,
                  objective_metric=body.objective.metric, objective_mode=body.objective.resolved_mode,
                  max_parallel=body.max_parallel, seed=body.seed, status="queued")
    session.add(sweep)
    session.commit()
    advance(session.get_bind(), sweep.id, settings.max_active_jobs, publish_job)
    return json_response(sweep_out(session, find_sweep(sweep.id)), 202, {"Location": f"/v1/sweeps/{sweep.id}"})


@blueprint.get("", responses={200: SweepPage, **problem_docs(422)})
def list_sweeps(query: SweepListQuery):
    """List sweeps, newest first, optionally only those with one status."""
    selection = select(Sweep).where(Sweep.tenant == current_tenant())
    if query.status is not None:
        selection = selection.where(Sweep.status == query.status)
    session = get_session()
    rows, following, next_cursor = newest_first(session, Sweep, selection, query.cursor, current_settings().page_size,
                                                "/v1/sweeps", {"status": query.status})
    return json_response(SweepPage(items=sweep_summaries(session, rows), next=following, next_cursor=next_cursor))


@blueprint.get("/<sweep_id>", responses={200: SweepOut, **problem_docs(404)})
def get_sweep(path: SweepPath):
    """Show one sweep: status, trials by status, the leaderboard and the best trial with its model."""
    return json_response(sweep_out(get_session(), find_sweep(path.sweep_id)))


@blueprint.post("/<sweep_id>/cancel", responses={202: SweepOut, **problem_docs(404, 409)})
def cancel_sweep(path: SweepPath):
    """Cancel the sweep and every unfinished trial (a running one at its next epoch); 409 once finished."""
    sweep = find_sweep(path.sweep_id)
    if not cancel(get_session().get_bind(), sweep.id):
        raise Conflict(f"the sweep has already finished ({find_sweep(sweep.id).status})")
    return json_response(sweep_out(get_session(), find_sweep(sweep.id)), 202)


def find_sweep(sweep_id: str) -> Sweep:
    """The current tenant's sweep ``sweep_id``; another tenant's is as unknown as a missing one."""
    sweep = get_session().get(Sweep, sweep_id, populate_existing=True)
    if sweep is None or sweep.tenant != current_tenant():
        raise NotFound("sweep", sweep_id)
    return sweep


def _space_pointer(pointer: str) -> str:
    return f"/space/{escape(pointer)}"


def _check_strategy(body: SweepCreate) -> int:
    """The sweep's number of trials, once the strategy, its options and the space agree (422s)."""
    if body.asha is not None and body.strategy != "asha":
        raise InvalidRequest([{"pointer": "/asha",
                               "detail": f"asha options need strategy 'asha', not '{body.strategy}'"}])
    if body.strategy != "grid":
        if body.n_trials is None:
            raise InvalidRequest([{"pointer": "/n_trials", "detail": f"required for strategy '{body.strategy}'"}])
        return body.n_trials
    for pointer in sorted(body.space):
        try:
            axis_length(body.space[pointer])
        except ValueError as error:
            raise InvalidRequest([{"pointer": _space_pointer(pointer), "detail": str(error)}]) from None
    size = grid_size(body.space)
    if size > MAX_TRIALS:
        raise InvalidRequest([{"pointer": "/space", "detail": f"the grid holds {size} trials, over {MAX_TRIALS}"}])
    if body.n_trials is not None and body.n_trials > size:
        raise InvalidRequest([{"pointer": "/n_trials",
                               "detail": f"the grid holds {size} trials, fewer than {body.n_trials}"}])
    return body.n_trials or size


def _check_trials(body: SweepCreate, dataset: Dataset, base_spec: dict, n_trials: int) -> None:
    """Draw every trial and validate its spec against the dataset, its limits and its memory (422 at the first
    bad one)."""
    settings = current_settings()
    shape = DataShape(dataset.task, dataset.n_features, len(dataset.classes) if dataset.classes else None)
    metric = body.objective.metric
    if metric not in METRICS_OF_TASK[dataset.task]:
        raise InvalidRequest([{"pointer": "/objective/metric", "detail": f"'{metric}' is not a {dataset.task} metric"}])
    for trial, values in enumerate(all_trial_values(body.space, body.strategy, body.seed, n_trials)):
        try:
            document = apply_values(base_spec, values)
        except PointerError as error:
            raise InvalidRequest([{"pointer": _space_pointer(error.pointer), "detail": str(error)}]) from None
        try:
            spec = NetworkSpec.model_validate(document, context={"limits": settings.limits, "data": shape})
        except ValidationError as error:
            raise _invalid_trial(error, document, values, trial) from None
        if metric.startswith("val_") and spec.validation_split == 0:
            raise InvalidRequest([{"pointer": "/objective/metric", "detail": f"trial {trial} has validation_split 0, "
                                   f"so its epochs have no '{metric}'"}])
        footprint = estimate_footprint(spec, shape, dataset.n_samples)
        if footprint.training_bytes > settings.max_training_bytes:
            raise InvalidRequest([{"pointer": _space_pointer(sorted(values)[-1]) if values else "/space",
                                   "detail": f"trial {trial} ({values}) would need an estimated "
                                   f"{footprint.training_bytes} bytes to train, over {settings.max_training_bytes} "
                                   "(limit max_training_bytes)"}])


def _invalid_trial(error: ValidationError, document: dict, values: dict, trial: int) -> InvalidRequest:
    """Each error of trial ``trial``'s spec, named by the space entry that set the place (else by /spec)."""
    errors, seen = [], set()
    for item in error.errors(include_url=False, include_input=False):
        place = json_pointer(item["loc"], document)
        owners = [pointer for pointer in values if place == pointer or place.startswith(pointer + "/")
                  or pointer.startswith(place + "/")]
        pointer = _space_pointer(max(owners, key=len)) if owners else f"/spec{place}"
        if pointer in seen:
            continue
        seen.add(pointer)
        setting = ", ".join(f"{p} = {values[p]!r}" for p in sorted(owners)) or "the base spec"
        errors.append({"pointer": pointer, "detail": f"trial {trial} ({setting}): {place or '/'}: "
                       f"{validation_message(item)}"})
    return InvalidRequest(errors)


def _asha_options(body: SweepCreate) -> dict | None:
    if body.strategy != "asha":
        return None
    return (body.asha or AshaOptions()).model_dump()
