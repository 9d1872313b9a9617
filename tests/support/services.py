"""The Celery worker and the API on a real socket, as the integration and fault suites run them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from werkzeug.serving import make_server

from service.app_state import app_state
from service.auth import create_key
from service.tables import LOCAL_TENANT

from .processes import REPO_ROOT

WORKER_READY_SECONDS = 60
# Short enough that the worker's reconciler acts within a test, long enough that no live job looks dead.
WORKER_SETTINGS = {"AXON_RECONCILE_SECONDS": "0.5", "AXON_REPUBLISH_SECONDS": "30", "AXON_CHECKPOINT_SECONDS": "1"}


class WorkerProcess:
    """``celery -A worker.app worker`` in a subprocess (its own session), its log in a file.

    Prefork by default, as ``axon worker`` runs it: the task runs in a forked child, the
    reconciler in the parent; ``pool="solo"`` trains in the one process, as ``axon serve`` does.
    ``queue`` replaces the training queue it consumes; ``settings`` add to the environment.
    """

    def __init__(self, database_url: str, broker_url: str, log_path: Path, home: Path, *, pool: str = "prefork",
                 queue: str | None = None, settings: dict[str, str] | None = None):
        self.log_path = log_path
        env = {**os.environ, **WORKER_SETTINGS, **(settings or {}), "AXON_DATABASE_URL": database_url,
               "AXON_BROKER_URL": broker_url, "AXON_HOME": str(home)}
        argv = [sys.executable, "-m", "celery", "-A", "worker.app", "worker", f"--pool={pool}",
                "--loglevel=INFO", "--hostname", f"axon-integration-{uuid.uuid4().hex[:8]}@%h",
                "--without-gossip", "--without-mingle", "--without-heartbeat"]
        if pool != "solo":
            argv.append("--concurrency=1")
        if queue is not None:
            argv.append(f"--queues={queue}")
        self.log_file = open(log_path, "wb")
        # A session of its own, so a test can signal the worker and its pool together, as systemd does.
        self.process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the celery worker exited with {self.process.returncode}:\n{self.log()}", pytrace=False)
            if " ready." in self.log():
                return
            time.sleep(0.1)
        pytest.fail(f"the celery worker was not ready after {timeout} s:\n{self.log()}", pytrace=False)

    def stop(self) -> None:
        # SIGTERM is Celery's warm shutdown: a job in hand is handed back at its next epoch.
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log_file.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log_file.close()


@contextmanager
def served(app, timeout: float = 10) -> Iterator[httpx.Client]:
    """Serve ``app`` with werkzeug on a free loopback port; yields an httpx client for it that
    sends a new API key of tenant "local" (where tests that insert rows directly put them)."""
    key = create_key(app_state(app).engine, LOCAL_TENANT)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="axon-test-api", daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}", timeout=timeout,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            yield client
    finally:
        server.shutdown()
        thread.join(timeout=5)
