"""Running the reconciler every few seconds inside each worker process, on a daemon thread, and
vacuuming the checkpoints table with it (see :mod:`worker.checkpointing`): the vacuum after a
worker's last checkpoint write or delete may find a reader still seeing the old rows, and with no
next write nothing else would reclaim them before autovacuum (if it runs at all).

A thread rather than Celery beat: every worker, the embedded ``axon serve`` included, then
reconciles without one more process to deploy, and the compare-and-set in the reconciler makes
several of them running at once harmless.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from .checkpointing import reclaim_checkpoint_space
from .reconciler import reconcile
from service.app_state import app_state

log = logging.getLogger(__name__)


class ReconcilerThread(threading.Thread):
    """Calls :func:`worker.reconciler.reconcile` now and then every ``interval_seconds`` until stopped."""

    def __init__(self, flask_app: Flask, interval_seconds: float):
        super().__init__(name="axon-reconciler", daemon=True)
        self.flask_app = flask_app
        self.interval_seconds = interval_seconds
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with self.flask_app.app_context():
                    reconcile()
                reclaim_checkpoint_space(app_state(self.flask_app).engine)
            except Exception:  # A database or broker outage must not end the thread.
                log.exception("reconciler run failed; trying again in %s s", self.interval_seconds)
            self.stopping.wait(self.interval_seconds)

    def stop(self) -> None:
        self.stopping.set()
