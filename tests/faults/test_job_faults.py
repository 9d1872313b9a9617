"""Jobs that go wrong by themselves, on a real worker: one that kills its worker on every attempt,
one that outlives its time limit, and one whose training diverges. Each ends ``failed`` once,
with its reason, and is never tried again."""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest
from sqlalchemy import Text, cast, select

import mlp
from mlp.checkpoint import load_checkpoint
from mlp.playground_data import GeneratorSpec, generate
from mlp.state import start
from service.queue import TRAINING_QUEUE
from tests.support.services import WORKER_SETTINGS
from tests.integration.test_stopping import add_job, send_to
from tests.integration.test_training import SPEC, SPIRAL, create_dataset, submit

from tests.support.rows import (
    age_lease, checkpoint_blob, checkpoint_epoch, engine_of, epoch_metrics, job_row, jobs, metric_epochs,
)

from .jobs import strict_json, wait_terminal, wait_until

from .test_worker_faults import SLOW_DATA, SLOW_SPEC

# Loaded by the worker's Python at start-up (a sitecustomize on its PYTHONPATH), before Celery's
# own main runs: the engine's epoch callback SIGKILLs its process at epoch 2 of one job. The
# checkpoint of epoch 1 is written first, so every attempt resumes there and dies again.
KILL_AT_EPOCH_2 = """
import os, signal, sys

sys.path.insert(0, os.getcwd())  # The working tree's engine, as `python -m celery` imports it.
import mlp

POISON_JOB_ID = os.environ["AXON_TEST_POISON_JOB_ID"]
real_fit = mlp.fit


def fit(*args, callback, **kwargs):
    def die_at_epoch_2(record, checkpoint):
        if record["epoch"] == 2 and callback.claim.job_id == POISON_JOB_ID:
            os.kill(os.getpid(), signal.SIGKILL)
        return callback(record, checkpoint)

    return real_fit(*args, callback=die_at_epoch_2, **kwargs)


mlp.fit = fit
"""
POOL_CHILD_KILLED = "exited with 'signal 9 (SIGKILL)'"  # What Celery's main process logs.
RECONCILE_SECONDS = float(WORKER_SETTINGS["AXON_RECONCILE_SECONDS"])
# A linear network under heavy-ball momentum at learning rate 3: the loss grows every epoch and
# overflows a few epochs in, so finite epochs (and their checkpoints) come before the divergence.
DIVERGING_SPEC = {**SPEC, "layers": [{"units": 16, "activation": "linear"}], "epochs": 30,
                  "optimizer": {"name": "momentum", "learning_rate": 3.0}}


def assert_never_retried(api_app, worker, job_id: str) -> None:
    """A stale heartbeat, a stray message and a few reconcile periods later, the failed job is as it was."""
    age_lease(api_app, job_id)
    failed = job_row(api_app, job_id)
    attempt_lines, republished = worker.log().count(f"job {job_id} attempt"), republish_count(worker, job_id)
    send_to(api_app, TRAINING_QUEUE, job_id)  # As a redelivery would.
    wait_until(lambda: f"job {job_id} is failed and held or finished; message dropped" in worker.log(), 30,
               worker.log)
    time.sleep(3 * RECONCILE_SECONDS)  # Waiting for nothing to happen: there is no event to wait on.
    assert job_row(api_app, job_id) == failed
    assert worker.log().count(f"job {job_id} attempt") == attempt_lines
    assert republish_count(worker, job_id) == republished


def republish_count(worker, job_id: str) -> int:
    """How often the worker's reconciler has sent the job again."""
    return sum(f"'{job_id}'" in line for line in re.findall(r"reconciler: published .*", worker.log()))


def test_a_job_that_kills_its_worker_every_time_fails_after_max_attempts(api, api_app, start_worker, tmp_path):
    max_attempts = 2  # Not the default 3: the setting is honoured.
    job_id, _ = add_job(api_app, create_dataset(api), {**SPEC, "epochs": 8})
    poison = tmp_path / "poison"
    poison.mkdir()
    (poison / "sitecustomize.py").write_text(KILL_AT_EPOCH_2)
    python_path = os.pathsep.join(filter(None, [str(poison), os.environ.get("PYTHONPATH")]))
    worker = start_worker(settings={"PYTHONPATH": python_path, "AXON_TEST_POISON_JOB_ID": job_id,
                                    "AXON_MAX_ATTEMPTS": str(max_attempts), "AXON_CHECKPOINT_SECONDS": "0"})
    send_to(api_app, TRAINING_QUEUE, job_id)

    for attempt in range(1, max_attempts + 1):
        wait_until(lambda: worker.log().count(POOL_CHILD_KILLED) == attempt, 30,
                   lambda: f"attempt {attempt} did not kill its worker:\n{worker.log()}")
        killed = job_row(api_app, job_id)
        assert (killed.status, killed.attempts, killed.epoch) == ("running", attempt, 1), killed
        # Celery hands the dead child's message back, and the reconciler sends the job again once
        # its lease is stale (the test ages it rather than waiting it out): whichever comes first
        # claims the next attempt, and the other finds the job held and is dropped.
        age_lease(api_app, job_id)
    job = wait_terminal(api_app, job_id, 30, worker.log)

    assert (job.status, job.error_type, job.attempts, job.lease_token) == (
        "failed", "max_attempts", max_attempts, None), worker.log()
    assert job.error_message == f"gave up after {max_attempts} attempts; the last one stopped after epoch 1 of 8"
    assert metric_epochs(api_app, job_id) == [1]
    assert worker.log().count(f"job {job_id} attempt") == max_attempts
    assert_never_retried(api_app, worker, job_id)
    assert worker.log().count(POOL_CHILD_KILLED) == max_attempts
    assert worker.process.poll() is None  # Only the pool children died; the worker lives on.


def test_a_job_past_its_run_time_is_checkpointed_and_failed_on_a_real_worker(api, api_app, start_worker):
    # A checkpoint cadence far longer than the job, so the checkpoint found is the timeout's own.
    worker = start_worker(settings={"AXON_MAX_RUN_SECONDS": "0.5", "AXON_CHECKPOINT_SECONDS": "100"})
    spec = {**SLOW_SPEC, "epochs": 500}  # Many seconds of training: far past the limit.
    job_id = submit(api, create_dataset(api, **SLOW_DATA), **spec)["id"]

    job = wait_terminal(api_app, job_id, 60, worker.log)

    assert (job.status, job.error_type, job.attempts, job.lease_token) == ("failed", "timeout", 1, None), job
    assert re.fullmatch(rf"timeout: trained [\d.]+ s, past the 0.5 s limit, at epoch {job.epoch}", job.error_message)
    assert 1 <= job.epoch < spec["epochs"] and job.train_seconds > 0.5
    assert checkpoint_epoch(api_app, job_id) == job.epoch
    assert metric_epochs(api_app, job_id) == list(range(1, job.epoch + 1))
    assert_never_retried(api_app, worker, job_id)


def strict_pages(api, path: str) -> list[dict]:
    """Every item of a paged list, each page parsed strictly (see :func:`strict_json`)."""
    items = []
    while path:
        page = strict_json(api.get(path).text)
        items += page["items"]
        path = page["next"]
    return items


def stored_json_texts(api_app, job_id: str) -> list[str]:
    """The job's latest record and every epoch's, as the database holds the text."""
    with engine_of(api_app).connect() as connection:
        # As text: read as JSON, the driver's own parser would take a NaN without a word.
        latest = connection.execute(select(cast(jobs.c.metrics, Text)).where(jobs.c.id == job_id)).scalar_one()
        records = connection.execute(select(cast(epoch_metrics.c.record, Text))
                                     .where(epoch_metrics.c.job_id == job_id)).scalars().all()
    return [latest, *records]


def test_a_diverging_job_fails_keeping_its_last_finite_checkpoint_and_no_nan_anywhere(api, api_app, start_worker):
    spiral = generate(GeneratorSpec(**SPIRAL))
    network_spec = mlp.NetworkSpec.model_validate(DIVERGING_SPEC)
    with pytest.raises(mlp.DivergenceError) as engine_diverged:  # The engine's own answer, in this process.
        mlp.fit(network_spec, spiral.features, spiral.targets)
    diverged_at = engine_diverged.value.epoch
    assert diverged_at > 1  # Otherwise there would be no finite checkpoint to keep.
    worker = start_worker(settings={"AXON_CHECKPOINT_SECONDS": "0"})
    job_id = submit(api, create_dataset(api), **DIVERGING_SPEC)["id"]

    job = wait_terminal(api_app, job_id, 60, worker.log)

    assert (job.status, job.error_type, job.attempts, job.epoch) == ("failed", "diverged", 1, diverged_at - 1), job
    assert job.error_message.startswith(f"diverged at epoch {diverged_at}:")
    assert metric_epochs(api_app, job_id) == list(range(1, diverged_at))
    # The last finite checkpoint is kept, loads, and holds only finite numbers; resumed, the engine
    # diverges in the very same epoch, so it is the state just before the divergence.
    blob = checkpoint_blob(api_app, job_id)
    state = load_checkpoint(blob, *start(network_spec, spiral.features, spiral.targets))
    assert state.epoch == diverged_at - 1
    slots = [array for per_param in state.optimizer.state.values() for array in per_param]
    assert all(np.isfinite(array).all() for array in [state.network.params, *slots])
    with pytest.raises(mlp.DivergenceError) as resumed_diverged:
        mlp.fit(network_spec, spiral.features, spiral.targets, resume_from=blob)
    assert resumed_diverged.value.epoch == diverged_at
    # No NaN or Infinity stored, nor answered.
    stored = [strict_json(text) for text in stored_json_texts(api_app, job_id)]
    assert [record["epoch"] for record in stored] == [diverged_at - 1, *range(1, diverged_at)]
    shown = strict_json(api.get(f"/v1/jobs/{job_id}").text)
    assert (shown["status"], shown["epoch"], shown["model_id"]) == ("failed", diverged_at - 1, None)
    assert [record["epoch"] for record in strict_pages(api, f"/v1/jobs/{job_id}/metrics")] == \
        list(range(1, diverged_at))
    events = api.get(f"/v1/jobs/{job_id}/events")  # The job has finished: the stream ends by itself.
    data = [strict_json(line.removeprefix("data: ")) for line in events.text.splitlines() if line.startswith("data: ")]
    assert [record["epoch"] for record in data[:-1]] == list(range(1, diverged_at))
    assert data[-1]["status"] == "failed" and data[-1]["error"]["type"] == "diverged"
    # No model to predict with: a conflict, not a 5xx and not a NaN.
    response = api.post(f"/v1/jobs/{job_id}/predict", json={"inputs": [[0.5, -1.2]]})
    assert response.status_code == 409, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert strict_json(response.text)["status"] == 409
