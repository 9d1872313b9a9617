"""Helpers the fault tests share: a job's rows, waiting on them, and the engine's own answer."""

from __future__ import annotations

import json
import math
import os
import signal
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, text, update

import mlp
from mlp.playground_data import GeneratorSpec, generate
from service.app_state import app_state
from service.database import utcnow
from service.tables import Checkpoint, EpochMetric, Job, TrainedModel
from tests.integration.test_training import SPEC, SPIRAL

if TYPE_CHECKING:
    from tests.integration.conftest import WorkerProcess

jobs, checkpoints, epoch_metrics, models = Job.__table__, Checkpoint.__table__, EpochMetric.__table__, \
    TrainedModel.__table__
TERMINAL = {"succeeded", "failed", "cancelled"}


def engine_of(api_app):
    return app_state(api_app).engine


def job_row(api_app, job_id: str):
    with engine_of(api_app).connect() as connection:
        return connection.execute(select(jobs).where(jobs.c.id == job_id)).one()


def checkpoint_epoch(api_app, job_id: str) -> int | None:
    with engine_of(api_app).connect() as connection:
        return connection.execute(select(checkpoints.c.epoch).where(checkpoints.c.job_id == job_id)).scalar()


def metric_epochs(api_app, job_id: str) -> list[int]:
    """The epochs with a metrics row, in order (the primary key makes each one unique)."""
    with engine_of(api_app).connect() as connection:
        return list(connection.execute(select(epoch_metrics.c.epoch).where(epoch_metrics.c.job_id == job_id)
                                       .order_by(epoch_metrics.c.epoch)).scalars())


def model_ids(api_app, job_id: str) -> list[str]:
    """The models stored for the job: one at most, however many workers tried."""
    with engine_of(api_app).connect() as connection:
        return list(connection.execute(select(models.c.id).where(models.c.job_id == job_id)).scalars())


def job_ids(api_app, dataset_id: str) -> list[str]:
    with engine_of(api_app).connect() as connection:
        return list(connection.execute(select(jobs.c.id).where(jobs.c.dataset_id == dataset_id)).scalars())


def wait_until(condition, seconds: float, explain) -> None:
    """Poll ``condition()`` until it is true; fail with ``explain()`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, explain()
        time.sleep(0.01)


def wait_for_epoch(api_app, job_id: str, epoch: int, seconds: float, explain) -> None:
    wait_until(lambda: job_row(api_app, job_id).epoch >= epoch, seconds, explain)


def wait_terminal(api_app, job_id: str, seconds: float, explain):
    """The job's row once it has finished one way or another."""
    wait_until(lambda: job_row(api_app, job_id).status in TERMINAL, seconds, explain)
    return job_row(api_app, job_id)


def age_lease(api_app, job_id: str, by: timedelta = timedelta(hours=1)) -> None:
    """Move the job's heartbeat and last publish ``by`` into the past: its worker seems long dead,
    without the test waiting out a lease."""
    long_ago = utcnow() - by
    with engine_of(api_app).begin() as connection:
        connection.execute(update(jobs).where(jobs.c.id == job_id).values(heartbeat_at=long_ago,
                                                                          published_at=long_ago))


def engine_weights(spec: dict, **generator) -> bytes:
    """The weights ``mlp.fit`` itself gives for ``spec`` on the spiral ``generator`` makes."""
    spiral = generate(GeneratorSpec(**{**SPIRAL, **generator}))
    return mlp.fit(mlp.NetworkSpec.model_validate({**SPEC, **spec}), spiral.features, spiral.targets) \
        .model.params.tobytes()


def checkpoint_blob(api_app, job_id: str) -> bytes | None:
    with engine_of(api_app).connect() as connection:
        return connection.execute(select(checkpoints.c.data).where(checkpoints.c.job_id == job_id)).scalar()


def log_count(workers: list[WorkerProcess], fragment: str) -> int:
    """How often ``fragment`` occurs in the logs of ``workers``, together."""
    return sum(worker.log().count(fragment) for worker in workers)


def open_transactions(api_app) -> int:
    """Connections to the test database that hold a transaction open between statements."""
    with engine_of(api_app).connect() as connection:
        return connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%'")).scalar_one()


def freeze_between_transactions(api_app, worker: WorkerProcess, tries: int = 50) -> None:
    """SIGSTOP the worker's process group at a moment it holds no transaction open.

    A process frozen inside its epoch's transaction would keep the job's row locked, and every
    other worker's claim would wait on that lock until it thawed: a different fault (the one
    PostgreSQL's ``idle_in_transaction_session_timeout`` answers). Each try thaws it again and
    retries; an epoch's transaction is a few milliseconds of a much longer epoch.
    """
    for _ in range(tries):
        os.killpg(worker.process.pid, signal.SIGSTOP)
        time.sleep(0.1)  # A statement already sent finishes on the server, whose state then says.
        if open_transactions(api_app) == 0:
            return
        os.killpg(worker.process.pid, signal.SIGCONT)
        time.sleep(0.03)
    raise AssertionError(f"the worker always had a transaction open after {tries} tries")


def thaw(worker: WorkerProcess) -> None:
    os.killpg(worker.process.pid, signal.SIGCONT)


def refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e999: valid JSON text, but no number a client can use.
        raise ValueError(f"{literal} overflows a double")
    return value


def strict_json(document: str):
    """``json.loads`` that refuses NaN and Infinity (Python's parser takes them by default) and
    numbers too large for a double."""
    return json.loads(document, parse_constant=refuse_constant, parse_float=finite_float)
