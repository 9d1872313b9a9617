"""The sweep scheduler: the database says how many trials a sweep may add now, and it adds them.

A sweep never holds its trials in memory or in the broker: each call counts the sweep's jobs by
status and creates the next trials (drawn again from the sweep's row by
:func:`service.sweep_space.trial_values`) while fewer than ``max_parallel`` of them are active and
the tenant is under ``max_active_jobs``. It runs when a sweep is created, when a worker finishes
a job (any job of the tenant: a finished ordinary job frees a tenant slot too), and on every
reconciler pass, so a lost wake-up (a killed worker, a broker restarted empty) only delays it.

Two callers at once cannot overshoot either bound or repeat a trial index: each takes the
tenant's row lock and then the sweep's (no-op updates, as ``service.api.jobs`` takes job slots) before
it counts, always in that order, so they run one after the other. Messages are published after
the commit; one that fails leaves its job unpublished, for the reconciler.
"""

from __future__ import annotations

import logging
from typing import Callable

from pydantic import TypeAdapter
from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from .database import utcnow
from .job_states import ACTIVE_STATUSES
from .tables import Job, Sweep, Tenant, new_id
from .sweep_schemas import Distribution
from .sweep_space import apply_values, trial_values

log = logging.getLogger(__name__)

jobs, sweeps, tenants = Job.__table__, Sweep.__table__, Tenant.__table__
OPEN_STATUSES = ("queued", "running")
# Sweeps advanced per reconciler pass at most; the next pass takes the rest.
BATCH_SIZE = 200
Publish = Callable[[str], bool]


SPACE = TypeAdapter(dict[str, Distribution])


def parsed_space(space: dict) -> dict[str, Distribution]:
    """The stored space (plain JSON) as distributions again."""
    return SPACE.validate_python(space)


def trial_counts(connection: Connection, sweep_id: str) -> dict[str, int]:
    """The sweep's jobs by status."""
    rows = connection.execute(select(jobs.c.status, func.count()).where(jobs.c.sweep_id == sweep_id)
                              .group_by(jobs.c.status))
    return {status: count for status, count in rows}


def _lock(connection: Connection, table, where) -> None:
    # A no-op update: the row lock on PostgreSQL, the write lock on SQLite, until the commit.
    key = next(iter(table.primary_key.columns))
    connection.execute(update(table).where(where).values({key.name: key}))


def advance(engine: Engine, sweep_id: str, max_active_jobs: int, publish: Publish) -> list[str]:
    """Add the trials the sweep has room for, settle its status, then publish the new trials.

    Returns the ids of the jobs created.
    """
    tenant = _tenant_if_work(engine, sweep_id, max_active_jobs)
    if tenant is None:
        return []
    # The locks first: on SQLite a transaction that read before it writes cannot wait for the lock.
    with engine.begin() as connection:
        _lock(connection, tenants, tenants.c.name == tenant)
        _lock(connection, sweeps, sweeps.c.id == sweep_id)
        sweep = connection.execute(select(sweeps).where(sweeps.c.id == sweep_id)).one()
        if sweep.status not in OPEN_STATUSES:
            return []
        created = _create_trials(connection, sweep, max_active_jobs)
        _settle_status(connection, sweep)
    for job_id in created:
        if publish(job_id):
            with engine.begin() as connection:
                connection.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status == "queued")
                                   .values(published_at=utcnow()))
    if created:
        log.info("sweep %s: created trials %s", sweep_id, created)
    return created


def _room(connection: Connection, sweep, max_active_jobs: int) -> tuple[int, dict[str, int]]:
    """How many trials the sweep may add now, and its trials by status."""
    counts = trial_counts(connection, sweep.id)
    n_created = sum(counts.values())
    active = sum(counts.get(status, 0) for status in ACTIVE_STATUSES)
    tenant_active = connection.execute(select(func.count()).select_from(jobs).where(
        jobs.c.tenant == sweep.tenant, jobs.c.status.in_(ACTIVE_STATUSES))).scalar_one()
    room = min(sweep.n_trials - n_created, sweep.max_parallel - active, max_active_jobs - tenant_active)
    return (0 if sweep.dataset_id is None else room), counts


def _tenant_if_work(engine: Engine, sweep_id: str, max_active_jobs: int) -> str | None:
    """The sweep's tenant when it may add a trial or change its status, else None: read without
    locks, so the reconciler's pass over every open sweep takes no write lock for one with nothing to do."""
    with engine.connect() as connection:
        sweep = connection.execute(select(sweeps).where(sweeps.c.id == sweep_id)).one_or_none()
        if sweep is None or sweep.status not in OPEN_STATUSES:
            return None
        room, counts = _room(connection, sweep, max_active_jobs)
        if room > 0 or _final_status(sweep, counts) is not None:
            return sweep.tenant
        started = sweep.status == "queued" and connection.execute(
            select(jobs.c.id).where(jobs.c.sweep_id == sweep_id, jobs.c.started_at.is_not(None)).limit(1)).first()
        return sweep.tenant if started else None


def _final_status(sweep, counts: dict[str, int]) -> str | None:
    """succeeded (or failed, when no trial succeeded) once no trial is active and none can be added:
    all were created, or the dataset is gone."""
    active = sum(counts.get(status, 0) for status in ACTIVE_STATUSES)
    if active or (sum(counts.values()) < sweep.n_trials and sweep.dataset_id is not None):
        return None
    return "succeeded" if counts.get("succeeded") else "failed"


def _create_trials(connection: Connection, sweep, max_active_jobs: int) -> list[str]:
    room, counts = _room(connection, sweep, max_active_jobs)
    n_created = sum(counts.values())
    if room <= 0:
        return []
    space = parsed_space(sweep.space)
    created = []
    for trial in range(n_created, n_created + room):
        values = trial_values(space, sweep.strategy, sweep.seed, trial)
        spec = apply_values(sweep.spec, values)
        job_id = new_id()
        connection.execute(insert(jobs).values(
            id=job_id, tenant=sweep.tenant, dataset_id=sweep.dataset_id, spec=spec, status="queued",
            epochs=spec["epochs"], sweep_id=sweep.id, trial=trial, sampled=values, created_at=utcnow(),
        ))
        created.append(job_id)
    return created


def _settle_status(connection: Connection, sweep) -> None:
    """running once a trial has started; then its final status (see :func:`_final_status`)."""
    status = _final_status(sweep, trial_counts(connection, sweep.id))
    if status is not None:
        connection.execute(update(sweeps).where(sweeps.c.id == sweep.id, sweeps.c.status.in_(OPEN_STATUSES))
                           .values(status=status, finished_at=utcnow()))
        return
    started = connection.execute(select(jobs.c.id).where(jobs.c.sweep_id == sweep.id, jobs.c.started_at.is_not(None))
                                 .limit(1)).first()
    if started is not None and sweep.status == "queued":
        connection.execute(update(sweeps).where(sweeps.c.id == sweep.id, sweeps.c.status == "queued")
                           .values(status="running"))


def cancel(engine: Engine, sweep_id: str) -> bool:
    """Cancel the sweep and every unfinished trial (queued ones at once, running ones at their next
    epoch); False when it had already finished."""
    now = utcnow()
    with engine.begin() as connection:
        cancelled = connection.execute(update(sweeps).where(sweeps.c.id == sweep_id,
                                                            sweeps.c.status.in_(OPEN_STATUSES))
                                       .values(status="cancelled", finished_at=now)).rowcount == 1
        if not cancelled:
            return False
        connection.execute(update(jobs).where(jobs.c.sweep_id == sweep_id, jobs.c.status == "queued")
                           .values(status="cancelled", finished_at=now))
        connection.execute(update(jobs).where(jobs.c.sweep_id == sweep_id, jobs.c.status == "running")
                           .values(status="cancelling"))
    return True


def open_sweeps(connection: Connection, tenant: str | None = None) -> list[str]:
    """Ids of sweeps still queued or running (of ``tenant``, or of all), oldest first."""
    statement = select(sweeps.c.id).where(sweeps.c.status.in_(OPEN_STATUSES))
    if tenant is not None:
        statement = statement.where(sweeps.c.tenant == tenant)
    return list(connection.execute(statement.order_by(sweeps.c.created_at).limit(BATCH_SIZE)).scalars())


def advance_open(engine: Engine, max_active_jobs: int, publish: Publish, tenant: str | None = None) -> list[str]:
    """Advance every open sweep (of ``tenant``); the ids of the trials created."""
    with engine.connect() as connection:
        sweep_ids = open_sweeps(connection, tenant)
    created = []
    for sweep_id in sweep_ids:
        created += advance(engine, sweep_id, max_active_jobs, publish)
    return created


def after_job_finished(engine: Engine, job_id: str, max_active_jobs: int, publish: Publish) -> list[str]:
    """The worker's hook when a job ends: advance its tenant's open sweeps (its own first).

    Never raises: a failure here (the database gone again) only waits for the reconciler's next pass.
    """
    try:
        with engine.connect() as connection:
            tenant = connection.execute(select(jobs.c.tenant).where(jobs.c.id == job_id)).scalar_one_or_none()
            if tenant is None or not connection.execute(select(sweeps.c.id).where(
                    and_(sweeps.c.tenant == tenant, sweeps.c.status.in_(OPEN_STATUSES))).limit(1)).first():
                return []
        return advance_open(engine, max_active_jobs, publish, tenant)
    except Exception:  # noqa: BLE001  (the reconciler advances the sweep on its next pass)
        log.exception("could not advance the sweeps after job %s; the reconciler will", job_id)
        return []
