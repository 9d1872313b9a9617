"""Writing a claimed job's progress and outcome, every write fenced by its lease token.

Everything here is SQLAlchemy core on one connection: no ORM objects in the per-epoch path, so
an epoch costs one UPDATE, one upsert (and now and then a checkpoint upsert, see
:mod:`worker.checkpointing` for how often and for the space it leaves) and one commit.
"""

from __future__ import annotations

import json
import time
from enum import Enum
from typing import Callable

from sqlalchemy import delete, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from mlp import CheckpointHandle, FitResult
from service.database import utcnow
from service.job_states import CANCELLING, HELD_STATUSES, RUNNING, by_lease_holder, progress
from service.tables import Checkpoint, EpochMetric, Job, TrainedModel, new_id
from service.tabular import shown_classes, with_shown_labels

from .checkpointing import CheckpointCadence, reclaim_checkpoint_space
from .claim import Claim
from .telemetry import observe_epoch

jobs = Job.__table__
epoch_metrics = EpochMetric.__table__
checkpoints = Checkpoint.__table__
models = TrainedModel.__table__

Clock = Callable[[], float]
Flag = Callable[[], bool]
Pruner = Callable[[Connection, int, dict], bool]
UPSERT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
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
    WHERE id = %(job_id)s AND lease_token = %(lease_token)s AND status IN ({held_statuses})
    RETURNING id, status
), metric AS (
    INSERT INTO epoch_metrics (job_id, epoch, record)
    SELECT id, %(epoch)s, %(record)s::json FROM job
    ON CONFLICT (job_id, epoch) DO UPDATE SET record = excluded.record
)
SELECT status FROM job
""".format(held_statuses=", ".join(f"'{status}'" for status in HELD_STATUSES))  # job_states.progress's WHERE


def fenced(claim: Claim):
    """An UPDATE of the claimed job's progress that matches only while this worker still holds its lease."""
    return progress(claim.job_id, claim.lease_token)


class StopCause(Enum):
    """Why the epoch callback stopped training before the engine's own end (see :func:`stop_cause`)."""

    LEASE_LOST = "lease_lost"  # Another worker holds the job, or it has finished: write nothing more.
    HANDED_BACK = "handed_back"  # The worker is stopping: the job is queued again, checkpointed at this epoch.
    CANCEL_REQUESTED = "cancel_requested"  # The job is cancelling: it is to end cancelled.
    TIMED_OUT = "timed_out"  # Past max_run_seconds, checkpointed at this epoch: it is to end failed.
    PRUNED = "pruned"  # A sweep's trial its ASHA rung stopped, this epoch written: it is to end pruned.


def stop_cause(status: str | None, handed_back: bool, timed_out: bool) -> StopCause | None:
    """Why to stop after an epoch whose fenced update returned ``status``; None to train on.

    ``status`` None: the update matched no row, so another worker holds the job now and this
    epoch is theirs to write, not ours. A job can be handed back only while ``running``, so a
    cancel that landed first wins over a stopping worker; either wins over the time limit.
    """
    if status is None:
        return StopCause.LEASE_LOST
    if handed_back:
        return StopCause.HANDED_BACK
    if status == CANCELLING:
        return StopCause.CANCEL_REQUESTED
    if timed_out:
        return StopCause.TIMED_OUT
    return None


class EpochWriter:
    """The engine's epoch callback: persists each epoch under the lease and says when to stop.

    Per epoch, in one transaction: the fenced job update (epoch, latest record, heartbeat,
    time so far) that also returns the status, the metrics row, and the checkpoint when due.
    When the worker is stopping, that same transaction writes a checkpoint and hands the job
    back (see :func:`hand_back`), so the next worker resumes after exactly this epoch.
    Returns True to stop, with the reason in ``stop_cause``: the job is being cancelled, handed
    back, past its time limit, or its lease was lost. ``stop_cause`` stays None when the fit
    ends on its own (its last epoch, or early stopping).

    Parameters
    ----------
    stopping : True once the worker is shutting down (see :mod:`worker.stopping`).
    lease_lost : True once the heartbeat thread found the lease gone.
    prune : a sweep trial's ASHA decision (see service.sweep_asha), asked after each epoch's write.
    """

    def __init__(self, connection: Connection, claim: Claim, cadence: CheckpointCadence, clock: Clock = time.monotonic,
                 stopping: Flag = lambda: False, lease_lost: Flag = lambda: False,
                 max_seconds: float = float("inf"), prune: Pruner | None = None):
        self.connection = connection
        self.claim = claim
        self.cadence = cadence
        self.clock = clock
        self.stopping = stopping
        self.lease_lost_elsewhere = lease_lost
        self.fit_started = clock()
        self.max_seconds = max_seconds
        self.stop_cause: StopCause | None = None
        self.prune = prune
        # Built once: constructing the statements each epoch would cost more than executing them.
        dialect_name = connection.dialect.name
        self.async_commit = ASYNC_COMMIT.get(dialect_name)
        self.write_progress = fenced(claim).returning(jobs.c.status)
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
            return self._stop(StopCause.LEASE_LOST)
        # At the last epoch storing the model is quicker than handing the job to another worker.
        handing_back = epoch < self.cadence.last_epoch and self.stopping()
        # Past its time limit a job stops here, with this epoch checkpointed, and is failed.
        timed_out = epoch < self.cadence.last_epoch and self.train_seconds() > self.max_seconds
        # Serialise before the transaction opens, so the job row stays locked only for the writes.
        due = handing_back or timed_out or self.cadence.due(epoch)
        checkpoint_started = self.clock()
        checkpoint_blob = checkpoint.to_bytes() if due else None
        connection, job_id, now = self.connection, self.claim.job_id, utcnow()
        if checkpoint_blob is None and not handing_back and self.fast_connection is not None:
            status = self.fast_connection.exec_driver_sql(EPOCH_STATEMENT_POSTGRESQL, {
                "epoch": epoch, "record": json.dumps(record), "heartbeat_at": now,
                "train_seconds": self.train_seconds(), "job_id": job_id, "lease_token": self.claim.lease_token,
            }).scalar_one_or_none()
            return self._after_write(status, False, timed_out, epoch, record)
        handed_back = False
        with connection.begin() as transaction:
            if self.async_commit is not None:
                connection.execute(self.async_commit)
            status = connection.execute(self.write_progress, {
                "epoch": epoch, "metrics": record, "heartbeat_at": now, "train_seconds": self.train_seconds(),
            }).scalar_one_or_none()
            if status is None:
                transaction.rollback()
                return self._stop(StopCause.LEASE_LOST)
            connection.execute(self.write_metrics, {"job_id": job_id, "epoch": epoch, "record": record})
            if checkpoint_blob is not None:
                connection.execute(self.write_checkpoint,
                                   {"job_id": job_id, "epoch": epoch, "data": checkpoint_blob, "created_at": now})
            # A cancel that landed first wins: the job ends cancelled rather than queued.
            if handing_back and status == RUNNING:
                handed_back = hand_back(connection, self.claim)
        if checkpoint_blob is not None:
            reclaim_checkpoint_space(connection.engine)  # The checkpoint this one replaced.
            self.cadence.mark_written(self.clock() - checkpoint_started)
        return self._after_write(status, handed_back, timed_out, epoch, record)

    def _after_write(self, status: str | None, handed_back: bool, timed_out: bool, epoch: int, record: dict) -> bool:
        """Stop or not after this epoch's write: :func:`stop_cause`, else a sweep trial that its
        ASHA rung prunes (it stops with this epoch written; the runner ends it ``pruned``)."""
        cause = stop_cause(status, handed_back, timed_out)
        if (cause is None and self.prune is not None and epoch < self.cadence.last_epoch
                and self.prune(self.connection, epoch, record)):
            cause = StopCause.PRUNED
        return self._stop(cause)

    def _stop(self, cause: StopCause | None) -> bool:
        """Keep why this epoch stops training (None: it does not), and tell the engine whether it does."""
        self.stop_cause = cause
        return cause is not None


def hand_back(connection: Connection, claim: Claim) -> bool:
    """Put the job back in the queue for any worker to resume; False when the lease was lost.

    Run it in the transaction that wrote the checkpoint. ``published_at`` is cleared so the next
    reconciler run sends it at once, and the attempt is not counted: ``attempts`` counts only
    attempts that ended uncleanly (a crash, a kill, an error), so restarting workers can never
    use up a job's ``max_attempts``.
    """
    statement = by_lease_holder("hand_back", claim.job_id, claim.lease_token).values(attempts=jobs.c.attempts - 1)
    return connection.execute(statement).rowcount == 1


def mark_cancelled(connection: Connection, claim: Claim, train_seconds: float) -> bool:
    """End a cancelling job cancelled and release the lease, in a transaction of its own; False
    when the lease was lost."""
    statement = by_lease_holder("end_cancelled", claim.job_id, claim.lease_token).values(train_seconds=train_seconds)
    with connection.begin():
        return connection.execute(statement).rowcount == 1


def mark_pruned(connection: Connection, claim: Claim, train_seconds: float) -> bool:
    """End a sweep's trial pruned and release the lease, in a transaction of its own; False when
    the lease was lost (or a cancel landed first: the job is then to end cancelled)."""
    statement = by_lease_holder("prune", claim.job_id, claim.lease_token).values(train_seconds=train_seconds)
    with connection.begin():
        return connection.execute(statement).rowcount == 1


def mark_failed(connection: Connection, claim: Claim, error_type: str, message: str, **values) -> bool:
    """Mark the job failed with ``error_type`` and ``message`` (and ``values``), in a transaction of
    its own; False when the lease was lost."""
    statement = by_lease_holder("fail", claim.job_id, claim.lease_token).values(
        error_type=error_type, error_message=message, **values)
    with connection.begin():
        return connection.execute(statement).rowcount == 1


def mark_succeeded(connection: Connection, claim: Claim, result: FitResult, train_seconds: float) -> bool:
    """Store the model and mark the job succeeded, in one transaction; False when the lease was lost.

    The model's records are the engine's: the epoch whose weights it holds and that epoch's
    record, and the last epoch's. A run resumed from its final checkpoint trains no epoch and,
    from a checkpoint older than those records, knows neither: then the job's latest record,
    which an earlier attempt wrote, stands for both. The checkpoint goes too: the model
    supersedes it and it would only take up space.
    """
    model_id, model = new_id(), result.model
    artefact = model.to_bytes()
    labels = shown_classes(model)  # An upload's true/false target shows booleans.
    with connection.begin() as transaction:
        succeed = by_lease_holder("succeed", claim.job_id, claim.lease_token).values(
            model_id=model_id, train_seconds=train_seconds, error_type=None, error_message=None,
        )
        if connection.execute(succeed).rowcount != 1:
            transaction.rollback()
            return False
        connection.execute(insert(models).values(
            id=model_id, job_id=claim.job_id, tenant=select(jobs.c.tenant).where(jobs.c.id == claim.job_id)
            .scalar_subquery(), task=model.task, n_features=model.n_features,
            classes=labels, spec=model.meta["spec"], metrics=model.metrics or claim.metrics,
            epoch=model.epoch, last_metrics=model.last_metrics or claim.metrics,
            evaluation=with_shown_labels(model.evaluation, labels) if model.evaluation else None,
            artefact=artefact, created_at=utcnow(),
        ))
        deleted = connection.execute(delete(checkpoints).where(checkpoints.c.job_id == claim.job_id)).rowcount
    if deleted:  # A short job often wrote none: then there is nothing to vacuum.
        reclaim_checkpoint_space(connection.engine)
    return True
