"""Workers that stop or train slowly, as real processes: hand-back on SIGTERM, and the heartbeat.

Each test starts a worker of its own on a queue of its own and sends the job's message there,
so the suite's worker (the ``worker`` fixture) cannot take the job first; the suite's worker is
the one that resumes a handed-back job, through its reconciler and the shared training queue.
"""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import insert, select

import mlp
from mlp import Model
from mlp.playground_data import GeneratorSpec, generate
from service.app_state import app_state
from service.database import utcnow
from service.tables import LOCAL_TENANT, Job, TrainedModel, new_id
from service.queue import TRAIN_TASK
from tests.support.rows import job_row
from worker.claim import claim_job

from .test_training import SPEC, SPIRAL, create_dataset, wait_for

if TYPE_CHECKING:
    from tests.support.services import WorkerProcess

jobs, models = Job.__table__, TrainedModel.__table__
EPOCHS = 200  # About 8 ms an epoch: long enough to stop mid-way, short enough to finish in seconds.
HEARTBEAT_LEASE_SECONDS = 3.0  # The heartbeat beats every third of it: room for a loaded CI machine.


def add_job(api_app, dataset_id: str, spec: dict) -> tuple[str, datetime]:
    """A queued job, marked as published just now so no reconciler sends it elsewhere; (id, published_at)."""
    job_id, published_at = new_id(), utcnow()
    with app_state(api_app).engine.begin() as connection:
        connection.execute(insert(jobs).values(id=job_id, tenant=LOCAL_TENANT, dataset_id=dataset_id, spec=spec, epochs=spec["epochs"],
                                               created_at=utcnow(), published_at=published_at))
    return job_id, published_at


def send_to(api_app, queue: str, job_id: str) -> None:
    api_app.extensions["celery"].send_task(TRAIN_TASK, args=[job_id], queue=queue)


def stored_weights(api_app, model_id: str) -> bytes:
    with app_state(api_app).engine.connect() as connection:
        artefact = connection.execute(select(models.c.artefact).where(models.c.id == model_id)).scalar_one()
    return Model.from_bytes(artefact).params.tobytes()


def logged(worker: WorkerProcess, pattern: str, seconds: float = 10) -> tuple[datetime, int]:
    """When the worker logged a line matching ``pattern``, and the line's one number; waits for it."""
    line = re.compile(rf"^\[(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}}): \w+/[\w-]+\] {pattern}", re.MULTILINE)
    deadline = time.monotonic() + seconds
    while (found := line.search(worker.log())) is None:
        assert time.monotonic() < deadline, f"no line like {pattern!r} in the log:\n{worker.log()}"
        time.sleep(0.05)
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f"), int(found.group(2))


@pytest.fixture(scope="module")
def uninterrupted_weights() -> bytes:
    """The weights of the stopping tests' job trained in one go by the engine itself."""
    spiral = generate(GeneratorSpec(**SPIRAL))
    spec = mlp.NetworkSpec.model_validate({**SPEC, "epochs": EPOCHS})
    return mlp.fit(spec, spiral.features, spiral.targets).model.params.tobytes()


@pytest.mark.parametrize("pool, signalled", [
    ("prefork", "main process"),  # As docker or an init system stops ``axon worker``: the child learns from its parent.
    ("prefork", "process group"),  # As systemd does: the pool child gets SIGTERM too, and must not die of it.
    ("solo", "main process"),  # As ``axon serve`` stops its worker.
])
def test_a_worker_stopped_mid_job_hands_it_back_and_another_resumes_it(
        api, api_app, worker, start_worker, uninterrupted_weights, pool, signalled):
    queue = f"stopping-{uuid.uuid4().hex[:8]}"
    stopping_worker = start_worker(pool=pool, queue=queue)
    job_id, _ = add_job(api_app, create_dataset(api), {**SPEC, "epochs": EPOCHS})
    send_to(api_app, queue, job_id)
    deadline = time.monotonic() + 30
    while job_row(api_app, job_id).epoch < 3:
        assert time.monotonic() < deadline, f"the job did not get going:\n{stopping_worker.log()}"
        time.sleep(0.02)

    if signalled == "main process":
        stopping_worker.process.send_signal(signal.SIGTERM)
    else:
        os.killpg(stopping_worker.process.pid, signal.SIGTERM)

    handed_back_at, epoch = logged(stopping_worker, rf"job {job_id}: worker stopping; handed back after epoch (\d+)")
    assert epoch < EPOCHS
    # Resumed by the suite's worker, from the checkpoint of that very epoch (nothing trained
    # twice), and at once (its reconciler runs every 0.5 s) rather than after a 60 s lease.
    resumed_at, _ = logged(worker, rf"job {job_id} attempt 1: training from epoch ({epoch})")
    assert timedelta(0) < resumed_at - handed_back_at < timedelta(seconds=3)
    job = wait_for(api, job_id, {"succeeded", "failed", "cancelled"}, timeout=30)
    assert stopping_worker.process.wait(timeout=15) == 0, stopping_worker.log()  # A clean exit, not a kill.

    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1  # The hand-back is not an attempt against max_attempts.
    metrics = api.get(f"/v1/jobs/{job_id}/metrics").json()
    assert [record["epoch"] for record in metrics["items"]] == list(range(1, EPOCHS + 1))
    assert stored_weights(api_app, job["model_id"]) == uninterrupted_weights


def test_an_epoch_longer_than_the_lease_is_not_taken_from_its_live_worker(api, api_app, start_worker):
    queue = f"slow-{uuid.uuid4().hex[:8]}"
    # The worker's own reconciler judges staleness by the short lease too, and would republish.
    slow_worker = start_worker(queue=queue, settings={"AXON_LEASE_SECONDS": str(HEARTBEAT_LEASE_SECONDS)})
    # One epoch of one-row batches through a wider network: 90,000 steps, several times the
    # lease even on a quiet machine. Without the heartbeat thread only the claim and the epoch's
    # write would refresh the lease.
    spec = {**SPEC, "epochs": 1, "batch_size": 1, "optimizer": {"name": "adam", "learning_rate": 0.001},
            "layers": [{"units": 128, "activation": "tanh"}, {"units": 128, "activation": "tanh"}]}
    job_id, published_at = add_job(api_app, create_dataset(api, n_samples=100_000), spec)
    send_to(api_app, queue, job_id)

    # Play a second worker: try to claim the job, as it would, all the while it trains.
    engine = app_state(api_app).engine
    deadline = time.monotonic() + 120
    while (status := job_row(api_app, job_id).status) in {"queued", "running"}:
        assert time.monotonic() < deadline, f"the job did not finish:\n{slow_worker.log()}"
        if status == "running":
            with engine.begin() as connection:
                assert claim_job(connection, job_id, HEARTBEAT_LEASE_SECONDS) is None, "the job was taken over"
        time.sleep(0.1)

    job = job_row(api_app, job_id)
    assert (job.status, job.attempts) == ("succeeded", 1), slow_worker.log()
    assert job.published_at == published_at  # The reconciler never took it for a dead worker's.
    # Otherwise the test proves nothing: the epoch must outlast the lease.
    assert job.metrics["seconds"] > HEARTBEAT_LEASE_SECONDS  # Claims every 0.1 s would have caught a gap.
    assert "lease taken over" not in slow_worker.log()
