"""Handing a job back at once when the database drops the worker's connection mid-attempt.

Before this, such an attempt raised and left the job ``running``: nobody could take it until its
heartbeat was ``lease_seconds`` old, and the next claim counted the attempt against
``max_attempts``. But the worker knows it gave up, and why: a database restart, a failover or a
``pg_terminate_backend`` is no fault of the job. So, on a fresh connection, it hands the job back
as a stopping worker does (``queued``, lease released) and publishes it again; the next attempt
resumes from the last checkpoint. The attempt is not counted against ``max_attempts`` when it
saved a checkpoint: it made progress that the next one keeps. One that saved none is counted, so
a job whose own writes keep bringing the database down (a checkpoint too large for it, say) still
ends after ``max_attempts`` instead of going round for ever. Any other unexpected error keeps the
old path (see :func:`worker.runner.run_job`).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from sqlalchemy import case, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from service.database import utcnow
from service.job_states import CANCELLED, QUEUED, by_lease_holder

from .claim import Claim
from .persist import checkpoints, jobs
from .reconciler import publish_again

log = logging.getLogger(__name__)

# The database that dropped the connection may still be coming back: retry the release a while,
# then leave the job to the lease and the reconciler as before.
FIRST_RETRY_SECONDS = 0.1
LONGEST_RETRY_SECONDS = 2.0


def lost_connection(error: BaseException) -> bool:
    """True when ``error``, or an error it was raised from or during, is a dropped database connection.

    SQLAlchemy sets ``connection_invalidated`` when the driver's error means the connection is
    gone (its dialect's disconnect test), as opposed to a statement the database refused.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        error = error.__cause__ or error.__context__
    return False


def hand_back_after_lost_connection(engine: Engine, claim: Claim, retry_seconds: float,
                                    may_publish: Callable[[], bool]) -> str | None:
    """Put the job back in the queue and publish it; the status it was given, or None.

    Returns "queued" (handed back), "cancelled" (a cancel had landed: it is finished instead), or
    None when the lease was lost meanwhile or the database stayed unreachable for
    ``retry_seconds`` (the lease then expires and the reconciler takes over, as before).
    ``may_publish`` is False on a stopping worker, which leaves the publish to the reconcilers
    of the workers that stay.
    """
    wait, deadline = FIRST_RETRY_SECONDS, time.monotonic() + retry_seconds
    while True:
        try:
            status, attempts = _release(engine, claim)
            break
        except Exception as error:  # noqa: BLE001  (any failure here is the database's)
            if time.monotonic() + wait > deadline:
                log.warning("job %s: could not hand the job back (%s); it waits for its lease to expire",
                            claim.job_id, error)
                return None
            time.sleep(wait)
            wait = min(2 * wait, LONGEST_RETRY_SECONDS)
    if status == QUEUED:
        counted = "not counted as an attempt" if attempts < claim.attempts else "counted: it saved no checkpoint"
        log.info("job %s attempt %d: handed back after the lost connection (%s)", claim.job_id, claim.attempts,
                 counted)
        if may_publish():
            _publish(engine, claim.job_id)
    elif status == CANCELLED:
        log.info("job %s: cancelled (a cancel landed before the lost connection)", claim.job_id)
    return status


def _release(engine: Engine, claim: Claim) -> tuple[str | None, int]:
    """One transaction: a running job back to ``queued``, a cancelling one to ``cancelled``.

    Returns the status given (None when the lease is no longer this worker's) and the job's
    attempts afterwards, one less than the claim's when this attempt is not counted.
    """
    now = utcnow()
    saved_checkpoint = select(checkpoints.c.job_id).where(
        checkpoints.c.job_id == claim.job_id, checkpoints.c.created_at >= claim.claimed_at).exists()
    with engine.begin() as connection:
        attempts = connection.execute(by_lease_holder("hand_back", claim.job_id, claim.lease_token).values(
            attempts=case((saved_checkpoint, jobs.c.attempts - 1), else_=jobs.c.attempts),
        ).returning(jobs.c.attempts)).scalar_one_or_none()
        if attempts is not None:
            return QUEUED, attempts
        cancelled = connection.execute(
            by_lease_holder("end_cancelled", claim.job_id, claim.lease_token, now=now)).rowcount == 1
    return (CANCELLED if cancelled else None), claim.attempts


def _publish(engine: Engine, job_id: str) -> None:
    try:
        with engine.connect() as connection:
            publish_again(connection, job_id)
    except Exception:  # noqa: BLE001  (unpublished, the reconciler's next run sends it)
        log.exception("job %s: could not publish the job again; the reconciler will", job_id)
