"""Helpers the fault tests share: a job's rows, waiting on them, and the engine's own answer."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select, update

import mlp
from mlp.datasets import GeneratorSpec, generate
from service.db import utcnow
from service.models import Checkpoint, EpochMetric, Job
from tests.integration.test_training import SPEC, SPIRAL

jobs, checkpoints, epoch_metrics = Job.__table__, Checkpoint.__table__, EpochMetric.__table__
TERMINAL = {"succeeded", "failed", "cancelled"}


def engine_of(api_app):
    return api_app.extensions["axon.engine"]


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
