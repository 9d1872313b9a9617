"""A worker killed outright, and a worker whose database connection is killed, mid-job."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from sqlalchemy import text

from tests.integration.test_stopping import add_job, logged, send_to, stored_weights
from tests.integration.test_training import SPEC, create_dataset, submit

from tests.support.rows import age_lease, checkpoint_epoch, engine_of, job_row, metric_epochs

from .jobs import engine_weights, wait_for_epoch, wait_terminal, wait_until

# About 0.1-0.2 s an epoch here (a thousand steps of three rows): slow enough to catch epoch 5.
SLOW_DATA = {"n_samples": 3000}
SLOW_SPEC = {**SPEC, "epochs": 20, "batch_size": 3}


def test_a_worker_killed_at_epoch_5_is_resumed_by_another_from_its_checkpoint(api, api_app, start_worker):
    queue = f"doomed-{uuid.uuid4().hex[:8]}"
    every_epoch = {"AXON_CHECKPOINT_SECONDS": "0"}
    # The doomed worker alone consumes the job's private queue; the survivor consumes the
    # training queue, where its reconciler sends the job once the lease has expired.
    doomed = start_worker(queue=queue, settings=every_epoch, wait=False)
    survivor = start_worker(settings={**every_epoch, "AXON_LEASE_SECONDS": "2"}, wait=False)
    for process in (doomed, survivor):
        process.wait_ready(60)
    job_id, _ = add_job(api_app, create_dataset(api, **SLOW_DATA), SLOW_SPEC)
    send_to(api_app, queue, job_id)

    wait_for_epoch(api_app, job_id, 5, 60, lambda: f"the job did not reach epoch 5:\n{doomed.log()}")
    doomed.kill()  # SIGKILL to the worker's process group: main process and pool child at once.

    killed = job_row(api_app, job_id)
    assert killed.status == "running" and 5 <= killed.epoch < SLOW_SPEC["epochs"], killed
    # Each epoch's row, metrics and checkpoint commit together: the checkpoint is the last epoch's.
    assert checkpoint_epoch(api_app, job_id) == killed.epoch
    age_lease(api_app, job_id)
    resumed_from = logged(survivor, rf"job {job_id} attempt 2: training from epoch (\d+)", seconds=30)[1]
    assert resumed_from == killed.epoch  # Nothing trained twice, nothing skipped.
    job = wait_terminal(api_app, job_id, 60, survivor.log)

    assert (job.status, job.attempts, job.epoch) == ("succeeded", 2, 20), survivor.log()
    assert metric_epochs(api_app, job_id) == list(range(1, 21))
    assert stored_weights(api_app, job.model_id) == engine_weights(SLOW_SPEC, **SLOW_DATA)


def terminate_backends(api_app) -> int:
    """``pg_terminate_backend`` every other connection to the test database; how many it ended."""
    with engine_of(api_app).connect() as connection:
        return connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()


# "0": every epoch commits a checkpoint in a transaction; "0.25": most epochs are the single
# autocommit statement (see worker.persist.EPOCH_STATEMENT_POSTGRESQL), now and then a checkpoint.
@pytest.mark.parametrize("checkpoint_seconds", ["0", "0.25"])
def test_a_database_connection_killed_mid_job_hands_the_job_back_at_once_uncounted(
        api, api_app, start_worker, checkpoint_seconds):
    # The default 60 s lease and 30 s republish period: only the hand-back can resume the job
    # within the test's 20 s.
    worker = start_worker(settings={"AXON_CHECKPOINT_SECONDS": checkpoint_seconds})
    spec = {**SLOW_SPEC, "epochs": 30}
    job_id = submit(api, create_dataset(api, n_samples=1500), **spec)["id"]
    started = f"job {job_id} attempt 1: training from epoch"
    # Once the attempt has saved a checkpoint: an attempt that saved none is counted (see worker.release).
    wait_until(lambda: job_row(api_app, job_id).epoch >= 3 and checkpoint_epoch(api_app, job_id) is not None, 60,
               lambda: f"the job did not get going:\n{worker.log()}")

    assert terminate_backends(api_app) >= 1
    killed_at, lease_seconds = time.monotonic(), 60
    assert job_row(api_app, job_id).epoch < spec["epochs"]

    wait_until(lambda: worker.log().count(started) == 2, 20,
               lambda: f"the job was not resumed within 20 s of the kill:\n{worker.log()}")
    assert time.monotonic() - killed_at < lease_seconds / 3
    assert f"job {job_id} attempt 1: handed back after the lost connection (not counted as an attempt)" in worker.log()
    job = wait_terminal(api_app, job_id, 60, worker.log)
    resumed_from = [int(epoch) for epoch in re.findall(rf"{started} (\d+)", worker.log())]
    assert resumed_from[0] == 0 and resumed_from[1] >= 1  # The second attempt resumed from a checkpoint.
    assert (job.status, job.attempts, job.epoch, job.lease_token) == ("succeeded", 1, spec["epochs"], None), \
        worker.log()
    assert metric_epochs(api_app, job_id) == list(range(1, spec["epochs"] + 1))
    assert stored_weights(api_app, job.model_id) == engine_weights(spec, n_samples=1500)
