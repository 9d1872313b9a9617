"""Real services for the integration suite: PostgreSQL, Redis, a ``celery worker`` subprocess
and the API on a real socket. They must be up: the suite fails, rather than skips, without them.

``AXON_TEST_POSTGRES_URL`` (an admin URL) and ``AXON_TEST_REDIS_URL`` (a Redis database this
suite may empty) point it elsewhere than the loopback defaults.
"""

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
import redis
from werkzeug.serving import make_server

from service.app_state import app_state
from service import create_app
from service.auth import create_key
from service.tables import LOCAL_TENANT
from tests.databases import postgres_database

REDIS_URL = os.environ.get("AXON_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
START_REDIS = ('redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
               "--dir /var/lib/redis --logfile /var/log/redis/ci.log")
REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_READY_SECONDS = 60
# Short enough that the worker's reconciler acts within a test, long enough that no live job looks dead.
WORKER_SETTINGS = {"AXON_RECONCILE_SECONDS": "0.5", "AXON_REPUBLISH_SECONDS": "30", "AXON_CHECKPOINT_SECONDS": "1"}


@pytest.fixture(scope="session")
def redis_url():
    """The suite's Redis database, emptied of messages an earlier run may have left."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({error}); start it with: {START_REDIS}", pytrace=False)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def database_url():
    with postgres_database("axon_integration") as url:
        yield url


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


@pytest.fixture(scope="session")
def worker(database_url, redis_url, tmp_path_factory):
    process = WorkerProcess(database_url, redis_url, tmp_path_factory.mktemp("worker") / "celery.log",
                            tmp_path_factory.mktemp("worker-home"))
    try:
        process.wait_ready(WORKER_READY_SECONDS)
        yield process
    finally:
        process.stop()


@pytest.fixture
def start_worker(database_url, redis_url, tmp_path):
    """Start one more worker, ready: ``start_worker(pool=..., queue=..., settings=...)``; stopped after the test."""
    started = []

    def start(**options) -> WorkerProcess:
        folder = tmp_path / f"worker-{len(started)}"
        folder.mkdir()
        process = WorkerProcess(database_url, redis_url, folder / "celery.log", folder / "home", **options)
        started.append(process)
        process.wait_ready(WORKER_READY_SECONDS)
        return process

    yield start
    for process in started:
        process.kill()  # The test has what it needs; a warm shutdown would only cost seconds.


@pytest.fixture(scope="session")
def api_app(database_url, redis_url, tmp_path_factory):
    home = tmp_path_factory.mktemp("api-home")
    app = create_app({"database_url": database_url, "broker_url": redis_url, "home": home})
    yield app
    app_state(app).engine.dispose()


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


@pytest.fixture(scope="session")
def api(api_app, worker):
    """An httpx client for the API on a real socket, with the worker up."""
    with served(api_app) as client:
        yield client
