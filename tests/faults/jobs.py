"""Helpers the fault tests share: waiting on a job's rows (tests/support/rows.py reads them), the engine's own
answer, freezing a worker, and strict JSON."""

from __future__ import annotations

import json
import math
import os
import signal
import time
from typing import TYPE_CHECKING

from sqlalchemy import text

import mlp
from mlp.playground_data import GeneratorSpec, generate
from tests.integration.test_training import SPEC, SPIRAL
from tests.support.rows import TERMINAL, engine_of, job_row

if TYPE_CHECKING:
    from tests.support.services import WorkerProcess


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


def engine_weights(spec: dict, **generator) -> bytes:
    """The weights ``mlp.fit`` itself gives for ``spec`` on the spiral ``generator`` makes."""
    spiral = generate(GeneratorSpec(**{**SPIRAL, **generator}))
    return mlp.fit(mlp.NetworkSpec.model_validate({**SPEC, **spec}), spiral.features, spiral.targets) \
        .model.params.tobytes()


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
