"""Claiming a job: one conditional UPDATE decides which worker holds it.

A job is claimable while it is ``queued``, or ``running`` with a heartbeat older than the lease
(its worker is taken to be dead). The winner gets a fresh ``lease_token``; every later write of
that worker is fenced by the token, so a worker that lost its lease can write nothing more.

Fairness between tenants: the broker delivers messages in the order jobs were submitted, so one
tenant's burst would hold every worker while another tenant's job waited behind all of it. A
message therefore only says "a job wants a worker": while its own job is still claimable, the
worker takes the claimable job of the tenant with the fewest running jobs (its own job when that
tenant is among them, else the oldest), which may be another job (:func:`claim_fairest`); the
message's job is then published again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, TypeVar

from sqlalchemy import case, func, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from service import job_states
from service.database import utcnow
from service.job_states import HELD_STATUSES, claimable
from service.tables import Job

jobs = Job.__table__
log = logging.getLogger(__name__)
DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE for a transaction it rolled back to end a deadlock.
DEADLOCK_TRIES = 3
T = TypeVar("T")


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


def claim_job(connection: Connection, job_id: str, lease_seconds: float, now: datetime | None = None) -> Claim | None:
    """Take ``job_id`` for this worker, or return None when it is held, finished or unknown.

    One UPDATE ... RETURNING, so two workers racing for the same job cannot both win: on
    PostgreSQL the loser waits for the winner's row lock and then finds the row no longer
    matches; SQLite serialises writers. Run it inside a transaction and commit it at once.
    """
    return _claim(connection, jobs.c.id == job_id, lease_seconds, now or utcnow())


def fairest_job(message_job_id: str, lease_seconds: float, now: datetime):
    """A subquery: the id of the claimable job to give a worker that got ``message_job_id``'s message.

    Nothing while the message's own job is not claimable (held, finished, unknown): the message
    is then a duplicate, or its job was already taken for another message. Otherwise the
    claimable job of the tenant with the fewest jobs running (or cancelling) under a live lease:
    the message's own job among that tenant's, else the oldest.

    On PostgreSQL the pick locks its row (``FOR UPDATE``): a worker whose pick another is
    claiming at that moment waits for that claim to commit, finds the row no longer claimable
    and moves on to the next candidate, rather than claiming nothing. (SQLite serialises writers.)
    """
    candidate, message, busy = jobs.alias("candidate"), jobs.alias("message"), jobs.alias("busy")
    # Jobs a live worker holds: a dead worker's job is a candidate itself, not a tenant's load.
    running = (select(busy.c.tenant, func.count().label("n_running"))
               .where(busy.c.status.in_(HELD_STATUSES),
                      busy.c.heartbeat_at >= now - timedelta(seconds=lease_seconds))
               .group_by(busy.c.tenant)
               .subquery("running"))
    message_claimable = select(message.c.id).where(message.c.id == message_job_id,
                                                   claimable(now, lease_seconds, message)).exists()
    not_the_message = case((candidate.c.id == message_job_id, 0), else_=1)
    fairest = (
        select(candidate.c.id)
        .select_from(candidate.outerjoin(running, running.c.tenant == candidate.c.tenant))
        .where(claimable(now, lease_seconds, candidate), message_claimable)
        .order_by(func.coalesce(running.c.n_running, 0), not_the_message, candidate.c.created_at, candidate.c.id)
        .limit(1)
        .with_for_update(of=candidate)
    )
    return fairest.scalar_subquery()


def claim_fairest(connection: Connection, message_job_id: str, lease_seconds: float,
                  now: datetime | None = None) -> Claim | None:
    """Take the fairest claimable job for a worker that got ``message_job_id``'s message, or None.

    Still one UPDATE ... RETURNING with the claim rule in its WHERE, so each job is won by one
    worker only, whichever job each of them picked. ``Claim.job_id`` says which job it is.
    Run it inside a transaction and commit it at once.
    """
    now = now or utcnow()
    fairest = fairest_job(message_job_id, lease_seconds, now)
    return _claim(connection, jobs.c.id == fairest, lease_seconds, now)


def retry_deadlocks(attempt: Callable[[], T], tries: int = DEADLOCK_TRIES) -> T:
    """``attempt()``, a whole transaction, run again when PostgreSQL rolled it back to end a deadlock.

    A fair claim locks the row it picks, and when that row changed under it (another worker
    claimed it meanwhile) it keeps the lock while it goes on to the next candidate. Two claims
    whose snapshots ordered the candidates differently can so each hold a row the other waits
    for; PostgreSQL rolls one back after ``deadlock_timeout`` (1 s by default), and that one only
    needs to be run again. Any other error, or a deadlock on the last try, is raised.
    """
    for _ in range(tries - 1):
        try:
            return attempt()
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != DEADLOCK_DETECTED:
                raise
            log.info("a claim was rolled back to end a deadlock with another; trying again")
    return attempt()


def _claim(connection: Connection, which, lease_seconds: float, now: datetime) -> Claim | None:
    """The conditional UPDATE of a claim, on the job ``which`` (a WHERE clause) selects."""
    lease_token = uuid.uuid4().hex
    statement = (
        job_states.claim(which, now, lease_seconds)
        .values(
            lease_token=lease_token,
            heartbeat_at=now,
            attempts=jobs.c.attempts + 1,
            # A typed literal, so SQLite stores it in the same text format as other datetimes.
            started_at=func.coalesce(jobs.c.started_at, literal(now, jobs.c.started_at.type)),
        )
        .returning(
            jobs.c.id, jobs.c.attempts, jobs.c.dataset_id, jobs.c.spec, jobs.c.epochs, jobs.c.epoch,
            jobs.c.metrics, jobs.c.train_seconds,
        )
    )
    row = connection.execute(statement).one_or_none()
    if row is None:
        return None
    return Claim(
        job_id=row.id,
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
