"""Claiming a job: one conditional UPDATE decides which worker holds it.

A job is claimable while it is ``queued``, or ``running`` with a heartbeat older than the lease
(its worker is taken to be dead). The winner gets a fresh ``lease_token``; every later write of
that worker is fenced by the token, so a worker that lost its lease can write nothing more.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, literal, or_, select, update
from sqlalchemy.engine import Connection

from service.db import utcnow
from service.models import Job

jobs = Job.__table__


@dataclass(frozen=True)
class Claim:
    """What a worker learns when it wins a job: its lease and the row's training inputs."""

    job_id: str
    lease_token: str
    attempts: int  # Including this one.
    dataset_id: str | None
    spec: dict
    epochs: int
    epoch: int  # Epochs an earlier attempt finished (0 on the first).
    metrics: dict | None  # The latest epoch's record an earlier attempt wrote.
    train_seconds: float  # Spent by earlier attempts.
    claimed_at: datetime  # This worker's clock when it won the job.


def claimable(now: datetime, lease_seconds: float):
    """The WHERE clause of a job a worker may take at ``now``."""
    lease_expired = jobs.c.heartbeat_at < now - timedelta(seconds=lease_seconds)
    return or_(jobs.c.status == "queued", and_(jobs.c.status == "running", lease_expired))


def claim_job(connection: Connection, job_id: str, lease_seconds: float, now: datetime | None = None) -> Claim | None:
    """Take ``job_id`` for this worker, or return None when it is held, finished or unknown.

    One UPDATE ... RETURNING, so two workers racing for the same job cannot both win: on
    PostgreSQL the loser waits for the winner's row lock and then finds the row no longer
    matches; SQLite serialises writers. Run it inside a transaction and commit it at once.
    """
    now = now or utcnow()
    lease_token = uuid.uuid4().hex
    statement = (
        update(jobs)
        .where(jobs.c.id == job_id, claimable(now, lease_seconds))
        .values(
            status="running",
            lease_token=lease_token,
            heartbeat_at=now,
            attempts=jobs.c.attempts + 1,
            # A typed literal, so SQLite stores it in the same text format as other datetimes.
            started_at=func.coalesce(jobs.c.started_at, literal(now, jobs.c.started_at.type)),
        )
        .returning(
            jobs.c.attempts, jobs.c.dataset_id, jobs.c.spec, jobs.c.epochs, jobs.c.epoch,
            jobs.c.metrics, jobs.c.train_seconds,
        )
    )
    row = connection.execute(statement).one_or_none()
    if row is None:
        return None
    return Claim(
        job_id=job_id,
        lease_token=lease_token,
        attempts=row.attempts,
        dataset_id=row.dataset_id,
        spec=row.spec,
        epochs=row.epochs,
        epoch=row.epoch,
        metrics=row.metrics,
        train_seconds=row.train_seconds,
        claimed_at=now,
    )


def job_status(connection: Connection, job_id: str) -> str | None:
    """The job's status, or None when there is no such job."""
    return connection.execute(select(jobs.c.status).where(jobs.c.id == job_id)).scalar_one_or_none()
