"""Writing a claimed job's progress and outcome, every write fenced by its lease token.

Everything here is SQLAlchemy core on one connection: no ORM objects in the per-epoch path, so
an epoch costs one UPDATE, one upsert (and now and then a checkpoint upsert, see
:mod:`worker.checkpointing` for how often and for the space it leaves) and one commit.
"""

from __future__ import annotations

import json
import time
from typing import Callable

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from mlp import CheckpointHandle, FitResult
from service.db import utcnow
from service.models import Checkpoint, EpochMetric, Job, TrainedModel, new_id

from .checkpointing import CheckpointCadence, reclaim_checkpoint_space
from .claim import Claim
from .telemetry import observe_epoch

jobs = Job.__table__
epoch_metrics = EpochMetric.__table__
checkpoints = Checkpoint.__table__
models = TrainedModel.__table__

Clock = Callable[[], float]
Flag = Callable[[], bool]
UPSERT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# A worker may write only while the job is still its own and still in training.
WRITABLE_STATUSES = ("running", "cancelling")
# An epoch's writes need not wait for the disk: if the database crashes just after a commit
# and loses it, the job resumes from an earlier checkpoint and writes those epochs again. A
# flush per epoch would cost more than the 2 ms an epoch's persistence may take. SQLite
# (WAL, synchronous=NORMAL) already commits without a flush.
ASYNC_COMMIT = {"postgresql": text("SET LOCAL synchronous_commit TO OFF")}


def upsert(dialect_name: str, table, key: tuple[str, ...], changed: tuple[str, ...]):
    """INSERT into ``table``, or overwrite ``changed`` in the row with the same ``key`` columns.

    Execute it with a dict of the row's values; the statement is built once and reused.
    """
    statement = UPSERT_INSERTS[dialect_name](table)
    return statement.on_conflict_do_update(
        index_elements=key, set_={name: statement.excluded[name] for name in changed}
    )


# One PostgreSQL statement for an ordinary epoch: the fenced job update and, only if it matched
# (the insert selects from its result), the metrics upsert; it returns the job's status, or no
# row when the lease is gone. A single statement is atomic on its own, so it runs in autocommit
# mode: one round trip instead of BEGIN, UPDATE, INSERT and COMMIT. It is plain SQL because this
# is the hottest write in Axon: building and cache-keying the equivalent SQLAlchemy construct
# cost more CPU per epoch than the round trip. PostgreSQL runs a data-modifying WITH clause
# exactly once, whether or not the outer query reads it.
EPOCH_STATEMENT_POSTGRESQL = """
WITH job AS (
    UPDATE jobs
    SET epoch = %(epoch)s, metrics = %(record)s::json, heartbeat_at = %(heartbeat_at)s,
        train_seconds = %(train_seconds)s
    WHERE id = %(job_id)s AND lease_token = %(lease_token)s AND status IN ('running', 'cancelling')
    RETURNING id, status
), metric AS (
    INSERT INTO epoch_metrics (job_id, epoch, record)
    SELECT id, %(epoch)s, %(record)s::json FROM job
    ON CONFLICT (job_id, epoch) DO UPDATE SET record = excluded.record
)
SELECT status FROM job
"""


def fenced(claim: Claim):
    """An UPDATE of the claimed job that matches only while this worker still holds its lease."""
    return update(jobs).where(
        jobs.c.id == claim.job_id,
        jobs.c.lease_token == claim.lease_token,
        jobs.c.status.in_(WRITABLE_STATUSES),
    )


class EpochWriter:
    """The engine's epoch callback: persists each epoch under the lease and says when to stop.

    Per epoch, in one transaction: the fenced job update (epoch, latest record, heartbeat,
    time so far) that also returns the status, the metrics row, and the checkpoint when due.
    When the worker is stopping, that same transaction writes a checkpoint and hands the job
    back (see :func:`hand_back`), so the next worker resumes after exactly this epoch.
    Returns True to stop when the job is being cancelled, handed back, or its lease was lost.

    Parameters
    ----------
    stopping : True once the worker is shutting down (see :mod:`worker.stopping`).
    lease_lost : True once the heartbeat thread found the lease gone.
    """

    def __init__(self, connection: Connection, claim: Claim, cadence: CheckpointCadence, clock: Clock = time.monotonic,
                 stopping: Flag = lambda: False, lease_lost: Flag = lambda: False,
                 max_seconds: float = float("inf")):
        self.connection = connection
        self.claim = claim
        self.cadence = cadence
        self.clock = clock
        self.stopping = stopping
        self.lease_lost_elsewhere = lease_lost
        self.fit_started = clock()
        self.max_seconds = max_seconds
        self.lease_lost = False
        self.cancelling = False
        self.handed_back = False
        self.timed_out = False
        # Built once: constructing the statements each epoch would cost more than executing them.
        dialect_name = connection.dialect.name
        self.async_commit = ASYNC_COMMIT.get(dialect_name)
        self.heartbeat = fenced(claim).returning(jobs.c.status)
        self.write_metrics = upsert(dialect_name, epoch_metrics, key=("job_id", "epoch"), changed=("record",))
        self.write_checkpoint = upsert(dialect_name, checkpoints, key=("job_id",),
                                       changed=("epoch", "data", "created_at"))
        # PostgreSQL: ordinary epochs go through one statement on an autocommit connection of
        # their own, whose commits do not wait for the disk (see ASYNC_COMMIT for why that is safe).
        self.fast_connection = None
        if dialect_name == "postgresql":
            self.fast_connection = connection.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self.fast_connection.execute(text("SET synchronous_commit TO OFF"))

    def close(self) -> None:
        """Give back the autocommit connection, with its session setting undone."""
        if self.fast_connection is not None:
            # A connection the database dropped has no session setting left to undo.
            if not self.fast_connection.invalidated:
                self.fast_connection.execute(text("RESET synchronous_commit"))
            self.fast_connection.close()
            self.fast_connection = None

    def train_seconds(self) -> float:
        """Seconds of training over all attempts, this one counted up to now."""
        return self.claim.train_seconds + (self.clock() - self.fit_started)

    def __call__(self, record: dict, checkpoint: CheckpointHandle) -> bool:
        epoch = record["epoch"]
        observe_epoch(record)  # The epoch ran, whatever becomes of its writes.
        if self.lease_lost_elsewhere():
            self.lease_lost = True
            return True
        # At the last epoch storing the model is quicker than handing the job to another worker.
        handing_back = epoch < self.cadence.last_epoch and self.stopping()
        # Past its time limit a job stops here, with this epoch checkpointed, and is failed.
        self.timed_out = epoch < self.cadence.last_epoch and self.train_seconds() > self.max_seconds
        # Serialise before the transaction opens, so the job row stays locked only for the writes.
        due = handing_back or self.timed_out or self.cadence.due(epoch)
        checkpoint_started = self.clock()
        checkpoint_blob = checkpoint.to_bytes() if due else None
        connection, job_id, now = self.connection, self.claim.job_id, utcnow()
        if checkpoint_blob is None and not handing_back and self.fast_connection is not None:
            status = self.fast_connection.exec_driver_sql(EPOCH_STATEMENT_POSTGRESQL, {
                "epoch": epoch, "record": json.dumps(record), "heartbeat_at": now,
                "train_seconds": self.train_seconds(), "job_id": job_id, "lease_token": self.claim.lease_token,
            }).scalar_one_or_none()
            return self._after_write(status)
        with connection.begin() as transaction:
            if self.async_commit is not None:
                connection.execute(self.async_commit)
            status = connection.execute(self.heartbeat, {
                "epoch": epoch, "metrics": record, "heartbeat_at": now, "train_seconds": self.train_seconds(),
            }).scalar_one_or_none()
            if status is None:
                transaction.rollback()
                return self._after_write(None)
            connection.execute(self.write_metrics, {"job_id": job_id, "epoch": epoch, "record": record})
            if checkpoint_blob is not None:
                connection.execute(self.write_checkpoint,
                                   {"job_id": job_id, "epoch": epoch, "data": checkpoint_blob, "created_at": now})
            # A cancel that landed first wins: the job ends cancelled rather than queued.
            if handing_back and status == "running":
                self.handed_back = hand_back(connection, self.claim)
        if checkpoint_blob is not None:
            reclaim_checkpoint_space(connection.engine)  # The checkpoint this one replaced.
            self.cadence.mark_written(self.clock() - checkpoint_started)
        return self._after_write(status)

    def _after_write(self, status: str | None) -> bool:
        """Whether to stop, given the job's status as the fenced update returned it."""
        if status is None:
            # Another worker holds the job now: this epoch is theirs to write, not ours.
            self.lease_lost = True
            return True
        self.cancelling = status == "cancelling"
        return self.cancelling or self.handed_back or self.timed_out


def hand_back(connection: Connection, claim: Claim) -> bool:
    """Put the job back in the queue for any worker to resume; False when the lease was lost.

    Run it in the transaction that wrote the checkpoint. ``published_at`` is cleared so the next
    reconciler run sends it at once, and the attempt is not counted: ``attempts`` counts only
    attempts that ended uncleanly (a crash, a kill, an error), so restarting workers can never
    use up a job's ``max_attempts``.
    """
    statement = fenced(claim).where(jobs.c.status == "running").values(
        status="queued", lease_token=None, published_at=None, attempts=jobs.c.attempts - 1,
    )
    return connection.execute(statement).rowcount == 1


def finish(connection: Connection, claim: Claim, status: str, **values) -> bool:
    """Give the job its final ``status`` and release the lease; False when the lease was lost."""
    statement = fenced(claim).values(status=status, lease_token=None, finished_at=utcnow(), **values)
    with connection.begin():
        return connection.execute(statement).rowcount == 1


def fail(connection: Connection, claim: Claim, error_type: str, message: str, **values) -> bool:
    """Mark the job failed with ``error_type`` and ``message``; False when the lease was lost."""
    return finish(connection, claim, "failed", error_type=error_type, error_message=message, **values)


def succeed(connection: Connection, claim: Claim, result: FitResult, train_seconds: float) -> bool:
    """Store the model and mark the job succeeded, in one transaction; False when the lease was lost.

    The model's records are the engine's: the epoch whose weights it holds and that epoch's
    record, and the last epoch's. A run resumed from its final checkpoint trains no epoch and,
    from a checkpoint older than those records, knows neither: then the job's latest record,
    which an earlier attempt wrote, stands for both. The checkpoint goes too: the model
    supersedes it and it would only take up space.
    """
    model_id, model = new_id(), result.model
    artefact = model.to_bytes()
    with connection.begin() as transaction:
        mark_succeeded = fenced(claim).values(
            status="succeeded", lease_token=None, finished_at=utcnow(), model_id=model_id,
            train_seconds=train_seconds, error_type=None, error_message=None,
        )
        if connection.execute(mark_succeeded).rowcount != 1:
            transaction.rollback()
            return False
        connection.execute(insert(models).values(
            id=model_id, job_id=claim.job_id, tenant=select(jobs.c.tenant).where(jobs.c.id == claim.job_id)
            .scalar_subquery(), task=model.task, n_features=model.n_features,
            classes=model.classes, spec=model.meta["spec"], metrics=model.metrics or claim.metrics,
            epoch=model.epoch, last_metrics=model.last_metrics or claim.metrics,
            artefact=artefact, created_at=utcnow(),
        ))
        deleted = connection.execute(delete(checkpoints).where(checkpoints.c.job_id == claim.job_id)).rowcount
    if deleted:  # A short job often wrote none: then there is nothing to vacuum.
        reclaim_checkpoint_space(connection.engine)
    return True
