"""The processes and the database that bench/service.py measures: started, and always stopped or dropped.

Starting and stopping a process group is tests/support/processes.py's, as the test suites do it.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Callable, Iterator

import httpx
import psycopg

import migrations
from service.commands.supervisor import APP_FACTORY, gunicorn_control_socket
from tests.support import processes
from tests.support.processes import free_port

REPO = Path(__file__).resolve().parents[1]
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
START_SECONDS = 90


def started(argv: list[str], env: dict, log_path: Path, ready: Callable[[], bool], cwd: Path = REPO):
    """Run ``argv`` in its own process group for the block, from when ``ready()``; then stop the group."""
    return processes.started(argv, env, log_path, ready, cwd, START_SECONDS)


def status_of(url: str) -> int | None:
    """The HTTP status a GET of ``url`` answers, None when nothing answers."""
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


@contextlib.contextmanager
def gunicorn(env: dict, logs: Path, app: str, threads: int, cwd: Path = REPO) -> Iterator[str]:
    """``app`` under gunicorn, 2 workers × ``threads`` (1: the sync worker, no keep-alive); yields its URL."""
    port = free_port()
    # Each its own control socket: gunicorn's default path is shared by every gunicorn of the user.
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
            "--threads", str(threads), *gunicorn_control_socket(str(logs / f"gunicorn-{port}.ctl")), app]
    url = f"http://127.0.0.1:{port}"
    probe = "/readyz" if app == APP_FACTORY else "/predict"  # The bare app answers a GET with 405.
    with started(argv, env, logs / f"gunicorn-{port}.log", lambda: status_of(url + probe) in (200, 405), cwd):
        yield url


@contextlib.contextmanager
def axon_api(env: dict, logs: Path) -> Iterator[str]:
    """``axon api`` as production runs it (waitress, 2 processes × 16 threads) on a free port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "axon", "api", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with started(argv, env, logs / f"api-{port}.log", lambda: status_of(url + "/readyz") == 200):
        yield url


@contextlib.contextmanager
def celery_worker(env: dict, log_path: Path) -> Iterator[subprocess.Popen]:
    """A prefork Celery worker with one pool process, as ``axon worker`` runs it."""
    argv = [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "--pool=prefork", "-c", "1",
            "--queues", "training", "--loglevel", "INFO", "--hostname", f"axon-bench-{uuid.uuid4().hex[:8]}@%h"]
    with started(argv, env, log_path, lambda: " ready." in log_path.read_text(errors="replace")) as process:
        yield process


@contextlib.contextmanager
def embedded(env: dict, home: Path, logs: Path) -> Iterator[str]:
    """``axon serve`` (SQLite database and broker under ``home``) on a free port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "axon", "serve", "--port", str(port), "--grace", "10"]
    with started(argv, {**env, "AXON_HOME": str(home)}, logs / "embedded.log",
                 lambda: status_of(url + "/readyz") == 200):
        yield url


# The API key every bench client sends, filled in by bench_api_key; the bare endpoint ignores it.
API_HEADERS: dict[str, str] = {}


def bench_api_key(database_url: str) -> None:
    """Make a key in the bench database and have every client send it (auth stays on, as in production)."""
    from sqlalchemy import create_engine

    from service.auth import create_key
    from service.tables import LOCAL_TENANT

    engine = create_engine(database_url)
    try:
        # Tenant "local": the jobs the bench writes straight to the database are in it too.
        API_HEADERS["Authorization"] = f"Bearer {create_key(engine, LOCAL_TENANT)}"
    finally:
        engine.dispose()


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped at the end; yields its SQLAlchemy URL."""
    name = f"axon_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        migrations.upgrade(url)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_database(folder: Path) -> str:
    """A fresh SQLite database in ``folder``, migrated; returns its SQLAlchemy URL (no server needed)."""
    url = f"sqlite:///{(folder / 'axon.db').absolute()}"
    migrations.upgrade(url)
    return url


def insert_trained_model(database_url: str, model) -> str:
    """Store an ``mlp.Model`` as a succeeded job's model of tenant "local", as the worker would; returns its id."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from service.database import utcnow
    from service.tables import LOCAL_TENANT, Job, TrainedModel

    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            job = Job(tenant=LOCAL_TENANT, dataset_id=None, spec=model.meta["spec"], status="succeeded",
                      epochs=model.spec.epochs, epoch=model.epoch, finished_at=utcnow())
            session.add(job)
            session.flush()
            row = TrainedModel(tenant=LOCAL_TENANT, job_id=job.id, task=model.task, n_features=model.n_features,
                               classes=model.classes, spec=model.meta["spec"], metrics=model.metrics,
                               epoch=model.epoch, last_metrics=model.last_metrics, artefact=model.to_bytes())
            session.add(row)
            session.flush()
            job.model_id = row.id
            session.commit()
            return row.id
    finally:
        engine.dispose()
