"""Real services for the fault suite, each test with its own: a private ``redis-server`` it may
kill and restart, ``celery worker`` subprocesses, and the API on a real socket.

PostgreSQL is the shared server (one throwaway database for the suite); Redis is never the shared
one, so a fault here cannot lose another suite's messages. Every process a test starts is killed
when it ends.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest
import redis

from service.app_state import app_state
from service import create_app
from tests.support.processes import free_port
from tests.support.databases import postgres_database
from tests.support.services import WORKER_READY_SECONDS, served, WorkerProcess

REDIS_READY_SECONDS = 10


@pytest.fixture(scope="session")
def database_url():
    with postgres_database("axon_faults") as url:
        yield url


class RedisServer:
    """A ``redis-server`` of the test's own on a free port, without persistence: a restart loses
    every message, as a Redis without AOF or RDB does when it is restarted."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + REDIS_READY_SECONDS
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert self.process.poll() is None, (self.folder / "redis.log").read_text()
                assert time.monotonic() < deadline, f"redis-server did not answer on port {self.port}"
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        """SIGKILL: the server goes at once, and with it every queued and unacknowledged message."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1)


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def start_worker(database_url, redis_server, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """``start_worker(settings=..., queue=..., wait=True)``: one more worker on the test's Redis, killed after the test.

    With ``wait=False`` it returns at once; call ``wait_ready`` before relying on it, so several
    workers start side by side.
    """
    started: list[WorkerProcess] = []

    def start(*, wait: bool = True, **options) -> WorkerProcess:
        folder = tmp_path / f"worker-{len(started)}"
        folder.mkdir()
        process = WorkerProcess(database_url, redis_server.url, folder / "celery.log", folder / "home", **options)
        started.append(process)
        if wait:
            process.wait_ready(WORKER_READY_SECONDS)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def api_app(database_url, redis_server, tmp_path):
    app = create_app({"database_url": database_url, "broker_url": redis_server.url, "home": tmp_path / "api-home"})
    yield app
    app_state(app).engine.dispose()


@pytest.fixture
def api(api_app) -> Iterator[httpx.Client]:
    """An httpx client for the API on a real socket."""
    with served(api_app, timeout=30) as client:
        yield client
