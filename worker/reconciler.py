"""The reconciler: the database says which jobs need a message, and it sends them again.

A job whose publish failed or whose message was lost stays ``queued``; a job whose worker died
stays ``running`` with a stale heartbeat (the claim rule lets the next worker take it over); a
``cancelling`` job whose worker died would never reach ``cancelled``. Every worker runs this
periodically, so two reconcilers may race: a compare-and-set on ``published_at`` lets only one
of them publish each job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Connection

from service.app_state import app_state
from service.database import utcnow
from service.job_states import QUEUED, by_reconciler, claimable
from service.tables import Job
from service.queue import publish_job
from service.settings import Settings
from service.sweep_scheduler import advance_open

log = logging.getLogger(__name__)

jobs = Job.__table__
BATCH_SIZE = 500  # Jobs published per run at most; the next run takes the rest.


@dataclass
class Reconciliation:
    """What one run did: jobs published again, and jobs marked cancelled."""

    published: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    trials: list[str] = field(default_factory=list)  # Sweep trials created (see service.sweep_scheduler).


def needs_publishing(now: datetime, settings: Settings):
    """The WHERE clause of a job that should get a message at ``now``.

    Queued jobs not picked up, and running jobs whose lease expired; either only when it was
    not published within ``republish_seconds``, so a job waiting behind busy workers gets one
    message per period rather than one per run.
    """
    not_recently = or_(
        jobs.c.published_at.is_(None),
        jobs.c.published_at < now - timedelta(seconds=settings.republish_seconds),
    )
    return and_(not_recently, claimable(now, settings.lease_seconds))


def cancel_abandoned(connection: Connection, now: datetime, settings: Settings) -> list[str]:
    """Mark ``cancelling`` jobs cancelled when no worker is left to notice (stale or no heartbeat)."""
    statement = by_reconciler("abandon", now, settings.lease_seconds).returning(jobs.c.id)
    with connection.begin():
        return list(connection.execute(statement).scalars())


def find_unpublished(connection: Connection, now: datetime, settings: Settings) -> list[tuple[str, datetime | None]]:
    """(job id, published_at) of up to :data:`BATCH_SIZE` jobs that need a message, oldest first."""
    statement = (
        select(jobs.c.id, jobs.c.published_at)
        .where(needs_publishing(now, settings))
        .order_by(jobs.c.created_at)
        .limit(BATCH_SIZE)
    )
    with connection.begin():
        return [tuple(row) for row in connection.execute(statement)]


def mark_published(connection: Connection, candidates: list[tuple[str, datetime | None]], now: datetime,
                   settings: Settings) -> list[str]:
    """Set ``published_at = now`` on each candidate still as it was read; return the ones this run won.

    Another reconciler that read the same rows and got here first has changed ``published_at``,
    so this run's UPDATE matches nothing and it leaves that job to the other.
    """
    won = []
    with connection.begin():
        for job_id, published_at in candidates:
            statement = (
                update(jobs)
                .where(
                    jobs.c.id == job_id,
                    jobs.c.published_at.is_not_distinct_from(published_at),
                    needs_publishing(now, settings),
                )
                .values(published_at=now)
            )
            if connection.execute(statement).rowcount == 1:
                won.append(job_id)
    return won


def release(connection: Connection, job_ids: list[str], now: datetime) -> None:
    """Undo ``published_at = now`` on jobs whose publish failed (unless someone changed it since)."""
    with connection.begin():
        connection.execute(
            update(jobs).where(jobs.c.id.in_(job_ids), jobs.c.published_at == now).values(published_at=None)
        )


def publish_again(connection: Connection, job_id: str, publish: Callable[[str], bool] = publish_job) -> bool:
    """Send a queued job a message now, outside the reconciler's period; False if it is not queued
    or the broker is down (its ``published_at`` is then cleared, so the next run sends it)."""
    now = utcnow()
    with connection.begin():
        queued = connection.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status == QUEUED)
                                    .values(published_at=now)).rowcount == 1
    if not queued:
        return False
    if publish(job_id):
        return True
    release(connection, [job_id], now)
    return False


def reconcile(now: datetime | None = None, publish: Callable[[str], bool] = publish_job) -> Reconciliation:
    """One pass over the jobs table, within the current Flask app; see the module docstring.

    Parameters
    ----------
    now : the time to judge staleness by (default: the clock).
    publish : sends a job id to the training queue (default: the app's Celery).
    """
    settings: Settings = app_state().settings
    now = now or utcnow()
    result = Reconciliation()
    with app_state().engine.connect() as connection:
        result.cancelled = cancel_abandoned(connection, now, settings)
        candidates = find_unpublished(connection, now, settings)
        won = mark_published(connection, candidates, now, settings) if candidates else []
        # Publish only after the commit, so only a run whose compare-and-set committed sends a message.
        for index, job_id in enumerate(won):
            if not publish(job_id):
                # The broker is down: the rest would fail too. Forget these runs' claims, so the
                # next run retries them rather than waiting out republish_seconds.
                release(connection, won[index:], now)
                break
            result.published.append(job_id)
    # After the cancellations above: a trial they ended frees its sweep's room.
    result.trials = advance_open(app_state().engine, settings.max_active_jobs, publish)
    if result.published or result.cancelled:
        log.info("reconciler: published %s, cancelled %s", result.published, result.cancelled)
    return result
