"""The job state machine: every status a job can have, every move between statuses, and the
conditional UPDATE that makes each move. The service and the worker change a job's status only
through the statements built here; the CHECK constraint ``ck_jobs_status`` keeps the column to
:data:`STATUSES`.

::

                  claim                          succeed, fail, prune (a sweep's trial)
      queued ─────────────────► running ─────────────────────► succeeded, failed, pruned
        │   ◄─────────────────    │  ⟲ claim, once its lease expired (a dead worker's job)
        │       hand_back         │
        │ cancel_queued           │ cancel_running
        ▼                         ▼                succeed, fail
    cancelled ◄─────────────── cancelling ─────────────────────► succeeded, failed
               end_cancelled, abandon

Each move's UPDATE matches only a job in one of the move's source statuses, and only under the
rest of its WHERE clause, which depends on who makes it (:class:`By`): so two parties racing for
one job (a cancel and the worker's last epoch, two workers claiming, two reconcilers) cannot
both win, and neither undoes the other. A move that matches no row was refused; each caller
says what that means for it.

Adding a status is one line in :data:`STATUSES` (its phase says what the rest of Axon makes of
it), one row in :data:`MOVES` per way into it, and a migration that widens ``ck_jobs_status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import Table, and_, or_, update
from sqlalchemy.sql import ColumnElement, Update

from .database import utcnow


class Phase(Enum):
    """What a status means for the rest of Axon."""

    WAITING = "waiting"  # No worker holds the job; a message sends one to claim it.
    HELD = "held"  # A worker holds the job's lease: it trains and writes progress under it.
    FINISHED = "finished"  # Final: no move leaves it; the job has its finished_at.


# In the order the API documents them (the OpenAPI enum) and the metrics list them.
STATUSES: dict[str, Phase] = {
    "queued": Phase.WAITING,
    "running": Phase.HELD,
    "succeeded": Phase.FINISHED,
    "failed": Phase.FINISHED,
    "cancelling": Phase.HELD,  # Cancel requested; the worker ends it at its next epoch boundary.
    "cancelled": Phase.FINISHED,
    "pruned": Phase.FINISHED,  # A sweep's trial that successive halving stopped at a rung (no model).
}
QUEUED, RUNNING, CANCELLING = "queued", "running", "cancelling"
SUCCEEDED, FAILED, CANCELLED, PRUNED = "succeeded", "failed", "cancelled", "pruned"

JOB_STATUSES = tuple(STATUSES)
HELD_STATUSES = tuple(status for status, phase in STATUSES.items() if phase is Phase.HELD)
ACTIVE_STATUSES = tuple(status for status, phase in STATUSES.items() if phase is not Phase.FINISHED)
FINISHED_STATUSES = tuple(status for status, phase in STATUSES.items() if phase is Phase.FINISHED)


class By(Enum):
    """Who makes a move, which decides the rest of its WHERE clause (see the builder of each)."""

    ANY_WORKER = "any worker"  # The job is free to take: :func:`claimable`, built by :func:`claim`.
    SERVICE = "service"  # The status as the service last read it (compare and set): :func:`by_service`.
    LEASE_HOLDER = "lease holder"  # The worker whose lease_token the job holds: :func:`by_lease_holder`.
    RECONCILER = "reconciler"  # No live worker holds the job: :func:`by_reconciler`.


@dataclass(frozen=True)
class Move:
    """An allowed move: from any of ``sources`` to ``target``, made by ``by``."""

    sources: tuple[str, ...]
    target: str
    by: By


MOVES: dict[str, Move] = {
    # name                 from                        to              by
    "claim":          Move(("queued", "running"),      "running",      By.ANY_WORKER),  # running: its lease expired
    "cancel_queued":  Move(("queued",),                "cancelled",    By.SERVICE),
    "cancel_running": Move(("running",),               "cancelling",   By.SERVICE),
    "hand_back":      Move(("running",),               "queued",       By.LEASE_HOLDER),  # stopping, or disconnected
    "end_cancelled":  Move(("cancelling",),            "cancelled",    By.LEASE_HOLDER),
    # From cancelling too: a cancel that lands after the last epoch comes too late to stop anything.
    "succeed":        Move(("running", "cancelling"),  "succeeded",    By.LEASE_HOLDER),
    "fail":           Move(("running", "cancelling"),  "failed",       By.LEASE_HOLDER),
    "abandon":        Move(("cancelling",),            "cancelled",    By.RECONCILER),  # its worker died first
    "prune":          Move(("running",),               "pruned",       By.LEASE_HOLDER),  # a sweep's ASHA rung
}
# Every (from, to) pair some move makes; any other pair cannot happen.
ALLOWED = frozenset((source, move.target) for move in MOVES.values() for source in move.sources)
# The move a cancel makes from each status it can cancel (cancelling: already on its way).
CANCEL_MOVES = {"queued": "cancel_queued", "running": "cancel_running"}


def status_check_sql() -> str:
    """The CHECK constraint's condition on ``jobs.status``: one of :data:`STATUSES`."""
    return "status IN (" + ", ".join(f"'{status}'" for status in STATUSES) + ")"


def _jobs() -> Table:
    # Imported here, not at the top: service.tables imports this module for the statuses.
    from .tables import Job

    return Job.__table__


def claimable(now: datetime, lease_seconds: float, table: Table | None = None) -> ColumnElement[bool]:
    """The WHERE clause of a job (a row of ``table``, the jobs table or an alias of it) a worker may take at ``now``.

    ``queued``, or ``running`` with a heartbeat older than the lease: its worker is taken to be dead.
    """
    table = _jobs() if table is None else table
    lease_expired = table.c.heartbeat_at < now - timedelta(seconds=lease_seconds)
    return or_(table.c.status == QUEUED, and_(table.c.status == RUNNING, lease_expired))


def leased(job_id: str, lease_token: str) -> ColumnElement[bool]:
    """The WHERE clause of the job ``job_id`` while ``lease_token`` holds it."""
    jobs = _jobs()
    return and_(jobs.c.id == job_id, jobs.c.lease_token == lease_token)


def no_live_worker(now: datetime, lease_seconds: float) -> ColumnElement[bool]:
    """The WHERE clause of a job no worker has shown a heartbeat for within the lease (or ever)."""
    jobs = _jobs()
    return or_(jobs.c.heartbeat_at.is_(None), jobs.c.heartbeat_at < now - timedelta(seconds=lease_seconds))


def progress(job_id: str, lease_token: str) -> Update:
    """An UPDATE of a held job's progress (no move): matches only while ``lease_token`` holds it."""
    jobs = _jobs()
    return update(jobs).where(leased(job_id, lease_token), jobs.c.status.in_(HELD_STATUSES))


def claim(which: ColumnElement[bool], now: datetime, lease_seconds: float) -> Update:
    """The UPDATE of a claim, on the job ``which`` selects while it is :func:`claimable`; the
    caller adds the new lease's values."""
    return _move("claim", By.ANY_WORKER, now, which, claimable(now, lease_seconds))


def by_service(name: str, job_id: str, status_read: str, now: datetime | None = None) -> Update:
    """The UPDATE of the service's move ``name`` on ``job_id``, only if its status is still ``status_read``."""
    if status_read not in MOVES[name].sources:
        raise ValueError(f"move {name!r} does not start from {status_read!r}")
    return _move(name, By.SERVICE, now, _jobs().c.id == job_id, sources=(status_read,))


def by_lease_holder(name: str, job_id: str, lease_token: str, now: datetime | None = None) -> Update:
    """The UPDATE of the worker's move ``name`` on ``job_id``, only while ``lease_token`` holds it."""
    return _move(name, By.LEASE_HOLDER, now, leased(job_id, lease_token))


def by_reconciler(name: str, now: datetime, lease_seconds: float) -> Update:
    """The UPDATE of the reconciler's move ``name`` on every job with no live worker at ``now``."""
    return _move(name, By.RECONCILER, now, no_live_worker(now, lease_seconds))


def _move(name: str, by: By, now: datetime | None, *where: ColumnElement[bool],
          sources: tuple[str, ...] | None = None) -> Update:
    """UPDATE jobs SET status = target (and what entering it implies) WHERE status IN sources AND ``where``."""
    move, jobs = MOVES[name], _jobs()
    sources = sources or move.sources
    if move.by is not by:
        raise ValueError(f"move {name!r} is made by the {move.by.value}, not the {by.value}")
    phase = STATUSES[move.target]
    values: dict = {"status": move.target}
    if phase is Phase.FINISHED:
        values["finished_at"] = now or utcnow()
    if phase is not Phase.HELD:
        values["lease_token"] = None  # Nobody holds a job that waits or has finished.
    if phase is Phase.WAITING:
        values["published_at"] = None  # Back in the queue with no message: the next reconciler run sends one.
    source = jobs.c.status.in_(sources) if len(sources) > 1 else jobs.c.status == sources[0]
    return update(jobs).where(source, *where).values(**values)
