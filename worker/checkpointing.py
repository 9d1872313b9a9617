"""Keeping checkpoints cheap: how often a job writes one, and the space an old one leaves behind.

A checkpoint of a network at the parameter limit is hundreds of megabytes (weights and optimizer
state). Two costs follow, and each is bounded here:

* **Time.** :class:`CheckpointCadence` writes one at most every ``AXON_CHECKPOINT_SECONDS``, and
  after a checkpoint that took ``t`` seconds (serialising, writing, reclaiming) waits at least
  ``t / AXON_CHECKPOINT_SHARE``: writing stays within that share of the training time, however
  large the network or slow the database.
* **Space.** PostgreSQL never overwrites in place: each checkpoint upsert leaves the previous one
  behind as dead TOAST chunks, and the delete when a job succeeds leaves the last one, until a
  VACUUM. Autovacuum comes late (a minute's nap at best, 20 % of the table by default, and it may
  be off): four jobs at the parameter limit left 5,981 MB of dead TOAST after six epochs each.
  :func:`reclaim_checkpoint_space` vacuums the table right after each write and delete, so the
  dead chunks are free for the next write at once, and the table holds about one checkpoint per
  job (plus one in flight). SQLite reuses freed pages by itself.
"""

from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy.engine import Engine

from service.tables import Checkpoint

log = logging.getLogger(__name__)

Clock = Callable[[], float]
# SKIP_LOCKED: while another worker vacuums the table this one does not queue behind it; the
# next vacuum (any worker's next checkpoint) takes what this one would have.
VACUUM_CHECKPOINTS = f"VACUUM (SKIP_LOCKED) {Checkpoint.__tablename__}"


class CheckpointCadence:
    """When an epoch's checkpoint is written: never at the last epoch; otherwise once at least
    ``seconds`` have passed since the last one, and at least its cost divided by ``share``.

    The last epoch's would be deleted moments later, when the model is stored in its place: it
    only served a worker that crashed in that gap, which now resumes from the checkpoint before
    and ends with the same model (the run is deterministic). For a 4-epoch job it was the only
    checkpoint written: 5-63 ms of 1.3-2.2 s there, plus a delete and a VACUUM (bench/job_overhead.py).

    ``seconds == 0`` writes every epoch before the last, whatever it costs (for tests and debugging). Tiny fast
    epochs would otherwise spend most of their time serialising and storing weights, and huge
    networks most of theirs writing checkpoints.
    """

    def __init__(self, seconds: float, last_epoch: int, clock: Clock, share: float = 1.0):
        self.seconds = seconds
        self.last_epoch = last_epoch
        self.clock = clock
        self.share = share
        self.interval = seconds
        self.written_at = clock()
        self.written = 0  # Checkpoints written, and the seconds they took, for the job's last log line.
        self.spent_seconds = 0.0

    def due(self, epoch: int) -> bool:
        return epoch < self.last_epoch and self.clock() - self.written_at >= self.interval

    def mark_written(self, cost_seconds: float = 0.0) -> None:
        """A checkpoint was written; it took ``cost_seconds`` from serialising to reclaiming."""
        self.written_at = self.clock()
        self.written += 1
        self.spent_seconds += cost_seconds
        if self.seconds > 0:
            self.interval = max(self.seconds, cost_seconds / self.share)


def reclaim_checkpoint_space(engine: Engine) -> None:
    """On PostgreSQL, vacuum the checkpoints table so the space of replaced and deleted
    checkpoints is reused by the next write instead of growing the table.

    A failure (a role that does not own the table is only warned by PostgreSQL; a dropped
    connection) is logged and costs only space: autovacuum, tuned for the table by migration
    0003, takes the dead chunks later.
    """
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(VACUUM_CHECKPOINTS)
    except Exception as error:  # noqa: BLE001  (space is not worth failing a job over)
        log.warning("could not vacuum the checkpoints table (%s); autovacuum will", error)
