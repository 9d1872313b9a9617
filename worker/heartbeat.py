"""Keeping a claimed job's lease alive between epochs, on a daemon thread.

Each epoch's write refreshes the heartbeat too, but loading a large dataset or one long epoch can
outlast ``lease_seconds``; without this thread the reconciler would then hand the job to a second
worker while the first still trains it. The thread proves the process is alive, not that training
progresses: a job stuck inside an epoch keeps its lease until its process ends.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from service.database import utcnow

from .claim import Claim
from .persist import fenced

log = logging.getLogger(__name__)


class HeartbeatThread(threading.Thread):
    """Refreshes ``heartbeat_at`` every ``interval_seconds`` under the claim's lease until stopped.

    When the fenced update matches no row, the lease is gone (another worker holds the job, or
    it finished): ``lease_lost`` is set and the thread ends; training stops at the next epoch.
    """

    def __init__(self, engine: Engine, claim: Claim, interval_seconds: float):
        super().__init__(name=f"axon-heartbeat-{claim.job_id}", daemon=True)
        self.engine = engine
        self.claim = claim
        self.interval_seconds = interval_seconds
        self.stopping = threading.Event()
        self.lease_lost = threading.Event()
        self.beats = 0  # Heartbeats written (the tests read it).

    def run(self) -> None:
        refresh = fenced(self.claim)
        while not self.stopping.wait(self.interval_seconds):
            try:
                with self.engine.begin() as connection:
                    matched = connection.execute(refresh.values(heartbeat_at=utcnow())).rowcount == 1
            except Exception:  # A database outage must not end the thread; the next beat may get through.
                log.exception("job %s: heartbeat failed; trying again in %s s", self.claim.job_id,
                              self.interval_seconds)
                continue
            if not matched:
                log.warning("job %s: heartbeat found the lease gone; training stops at the next epoch",
                            self.claim.job_id)
                self.lease_lost.set()
                return
            self.beats += 1

    def stop(self) -> None:
        """Stop beating and wait for a beat in flight, so nothing is written after this returns."""
        self.stopping.set()
        if self.is_alive():
            self.join()
