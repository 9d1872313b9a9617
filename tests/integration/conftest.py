"""Real services for the integration suite: PostgreSQL, Redis, a ``celery worker`` subprocess
and the API on a real socket. They must be up: the suite fails, rather than skips, without them.

``AXON_TEST_POSTGRES_URL`` (an admin URL) and ``AXON_TEST_REDIS_URL`` (a Redis database this
suite may empty) point it elsewhere than the loopback defaults.
"""

from __future__ import annotations

import os

import pytest
import redis

from service.app_state import app_state
from service import create_app
from tests.support.databases import postgres_database
from tests.support.services import WORKER_READY_SECONDS, WorkerProcess, served

REDIS_URL = os.environ.get("AXON_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
START_REDIS = ('redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
               "--dir /var/lib/redis --logfile /var/log/redis/ci.log")


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


@pytest.fixture(scope="session")
def api(api_app, worker):
    """An httpx client for the API on a real socket, with the worker up."""
    with served(api_app) as client:
        yield client
