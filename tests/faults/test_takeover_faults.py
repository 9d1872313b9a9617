"""Two workers, one job: the same message delivered twice at once, and a frozen worker that
wakes after another took its job over. The claim and the lease token decide; nothing else."""

from __future__ import annotations

import re
import uuid

from service.queue import publish_job
from tests.integration.test_stopping import add_job, logged, send_to, stored_weights
from tests.integration.test_training import create_dataset, submit

from tests.support.rows import age_lease, checkpoint_epoch, job_row, metric_epochs, model_ids

from .jobs import engine_weights, freeze_between_transactions, log_count, thaw, wait_for_epoch, wait_terminal, wait_until
from .test_worker_faults import SLOW_DATA, SLOW_SPEC

EVERY_EPOCH = {"AXON_CHECKPOINT_SECONDS": "0"}


def publish_again(api_app, job_id: str) -> bool:
    """The service's own publish, a second time for the same job (as an API retry might)."""
    with api_app.app_context():
        return publish_job(job_id)


def test_a_job_delivered_twice_at_once_is_claimed_once_and_the_other_delivery_writes_nothing(
        api, api_app, start_worker):
    first, second = start_worker(wait=False), start_worker(wait=False)
    for worker in (first, second):
        worker.wait_ready(60)
    spec = {**SLOW_SPEC, "epochs": 10}  # A second or two: still training when the duplicate lands.
    job_id = submit(api, create_dataset(api, **SLOW_DATA), **spec)["id"]

    # The API published the job once; publish it again at once: each idle worker (prefetch 1)
    # takes one of the two messages.
    assert publish_again(api_app, job_id)

    dropped = f"job {job_id} is running and held or finished; message dropped"
    wait_until(lambda: log_count([first, second], dropped) == 1, 30,
               lambda: f"no worker dropped the duplicate:\n{first.log()}\n{second.log()}")
    job = wait_terminal(api_app, job_id, 60, lambda: first.log() + second.log())
    assert (job.status, job.attempts, job.epoch) == ("succeeded", 1, spec["epochs"]), job
    assert metric_epochs(api_app, job_id) == list(range(1, spec["epochs"] + 1))
    assert model_ids(api_app, job_id) == [job.model_id]
    # One claim between them, and each worker got one of the two messages.
    assert log_count([first, second], f"job {job_id} attempt") == 1
    assert {dropped in worker.log() for worker in (first, second)} == {True, False}


def test_a_frozen_worker_that_wakes_after_a_takeover_writes_nothing_more(api, api_app, start_worker):
    queue = f"zombie-{uuid.uuid4().hex[:8]}"
    # The zombie alone consumes the job's private queue; the other worker takes the job over
    # through its reconciler and the training queue once the lease has gone stale.
    zombie = start_worker(queue=queue, settings=EVERY_EPOCH, wait=False)
    successor = start_worker(settings=EVERY_EPOCH, wait=False)
    for worker in (zombie, successor):
        worker.wait_ready(60)
    job_id, _ = add_job(api_app, create_dataset(api, **SLOW_DATA), SLOW_SPEC)
    send_to(api_app, queue, job_id)
    wait_for_epoch(api_app, job_id, 3, 60, lambda: f"the job did not get going:\n{zombie.log()}")

    freeze_between_transactions(api_app, zombie)  # SIGSTOP: main process and pool child, alive but still.
    frozen = job_row(api_app, job_id)
    assert frozen.status == "running" and frozen.epoch < SLOW_SPEC["epochs"], frozen
    assert checkpoint_epoch(api_app, job_id) == frozen.epoch
    age_lease(api_app, job_id)  # As if the zombie had been frozen for an hour.
    resumed_from = logged(successor, rf"job {job_id} attempt 2: training from epoch (\d+)", seconds=30)[1]
    assert resumed_from == frozen.epoch
    thaw(zombie)  # SIGCONT: it finishes the epoch it was in and tries to write it.

    noticed = re.compile(rf"job {job_id}(?: attempt 1: lease taken over by another worker; stopped|"
                         r": heartbeat found the lease gone)")
    wait_until(lambda: noticed.search(zombie.log()), 30, lambda: f"the zombie did not notice:\n{zombie.log()}")
    job = wait_terminal(api_app, job_id, 60, successor.log)

    assert (job.status, job.attempts, job.epoch) == ("succeeded", 2, SLOW_SPEC["epochs"]), successor.log()
    assert metric_epochs(api_app, job_id) == list(range(1, SLOW_SPEC["epochs"] + 1))
    # The worker logs the success after the commit and the checkpoint VACUUM that follows it.
    wait_until(lambda: f"job {job_id} succeeded" in successor.log(), 10, successor.log)
    assert f"job {job_id} succeeded" not in zombie.log()
    assert model_ids(api_app, job_id) == [job.model_id]
    # The model is the uninterrupted run's: no epoch, checkpoint or weight of the zombie's
    # after the takeover got in.
    assert stored_weights(api_app, job.model_id) == engine_weights(SLOW_SPEC, **SLOW_DATA)
    assert zombie.process.poll() is None  # It lost the job, not its life: it is still a worker.
