"""The broker down or emptied, and the API dying before it publishes: the database remembers
every job, and the workers' reconciler sends it again. Each job still runs exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from service.queue import TRAINING_QUEUE
from tests.support.processes import REPO_ROOT
from tests.integration.test_training import SPEC, create_dataset, submit

from tests.support.rows import job_ids, job_row, metric_epochs

from .jobs import wait_for_epoch, wait_terminal

QUICK_SPEC = {**SPEC, "epochs": 8}
# The reconciler sends a queued job again when its last message is older than this: short, so a
# lost message is replaced within the test, not after the default 30 s.
REPUBLISH = {"AXON_REPUBLISH_SECONDS": "1"}


def assert_ran_once(api_app, worker, job_id: str, epochs: int) -> None:
    """The job succeeded on its first attempt, trained each epoch once, and started once."""
    job = job_row(api_app, job_id)
    assert (job.status, job.attempts, job.epoch) == ("succeeded", 1, epochs), (job, worker.log())
    assert metric_epochs(api_app, job_id) == list(range(1, epochs + 1))
    assert worker.log().count(f"job {job_id} attempt") == 1, worker.log()


def test_a_job_submitted_while_the_broker_is_down_is_accepted_and_runs_once_it_is_back(
        api, api_app, redis_server, start_worker):
    worker = start_worker(settings=REPUBLISH)
    dataset_id = create_dataset(api, n_samples=300)
    redis_server.kill()

    response = api.post("/v1/jobs", json={"dataset_id": dataset_id, "spec": QUICK_SPEC})

    assert response.status_code == 202, response.text
    assert response.elapsed.total_seconds() < 10  # Publishing fails fast rather than hanging the request.
    job_id = response.json()["id"]
    assert job_row(api_app, job_id).published_at is None  # Committed, but no message went out.
    redis_server.start()
    wait_terminal(api_app, job_id, 60, worker.log)
    assert len(job_ids(api_app, dataset_id)) == 1
    assert_ran_once(api_app, worker, job_id, QUICK_SPEC["epochs"])


# The API, in a process of its own, commits a job and dies where it would publish it.
DIE_BEFORE_PUBLISHING = """
import json, os, signal, sys
import service.api.jobs
from service import create_app

database_url, broker_url, home, body = sys.argv[1:]
app = create_app({"database_url": database_url, "broker_url": broker_url, "home": home, "auth": False})
service.api.jobs.publish_job = lambda job_id: os.kill(os.getpid(), signal.SIGKILL)
app.test_client().post("/v1/jobs", json=json.loads(body))
sys.exit("the API survived its publish")
"""


def test_a_job_committed_by_an_api_that_died_before_publishing_is_published_by_the_reconciler(
        api, api_app, database_url, redis_server, start_worker, tmp_path):
    worker = start_worker()
    dataset_id = create_dataset(api, n_samples=300)
    body = json.dumps({"dataset_id": dataset_id, "spec": QUICK_SPEC})

    dead_api = subprocess.run([sys.executable, "-c", DIE_BEFORE_PUBLISHING, database_url, redis_server.url,
                               str(tmp_path / "dead-api"), body], cwd=REPO_ROOT, capture_output=True, timeout=60)

    assert dead_api.returncode == -signal.SIGKILL, dead_api.stderr.decode()
    (job_id,) = job_ids(api_app, dataset_id)
    job = wait_terminal(api_app, job_id, 60, worker.log)
    assert job.published_at is not None and f"reconciler: published ['{job_id}']" in worker.log()
    assert_ran_once(api_app, worker, job_id, QUICK_SPEC["epochs"])


def test_a_redis_restarted_empty_loses_no_job_and_runs_none_twice(api, api_app, redis_server, start_worker):
    # Republishing later than in the other tests, so none of the three queued messages is sent
    # twice before the restart.
    worker = start_worker(settings={"AXON_REPUBLISH_SECONDS": "3"})
    running_spec = {**SPEC, "epochs": 30, "batch_size": 3}  # A few seconds: still training across the restart.
    running_id = submit(api, create_dataset(api, n_samples=1500), **running_spec)["id"]
    wait_for_epoch(api_app, running_id, 2, 60, lambda: f"the job did not get going:\n{worker.log()}")
    quick_dataset = create_dataset(api, n_samples=300)
    queued_ids = [submit(api, quick_dataset, **QUICK_SPEC)["id"] for _ in range(3)]
    broker = redis_server.client()
    # One worker takes one job at a time: the other three wait in Redis.
    assert broker.llen(TRAINING_QUEUE) == 3 and job_row(api_app, running_id).status == "running"

    redis_server.kill()
    redis_server.start()
    late_id = submit(api, quick_dataset, **QUICK_SPEC)["id"]
    assert job_row(api_app, late_id).published_at is not None  # The API reconnected and published it.

    for job_id in [running_id, *queued_ids, late_id]:
        wait_terminal(api_app, job_id, 60, worker.log)
    assert_ran_once(api_app, worker, running_id, running_spec["epochs"])
    for job_id in [*queued_ids, late_id]:
        assert_ran_once(api_app, worker, job_id, QUICK_SPEC["epochs"])
    assert job_row(api_app, running_id).epoch == running_spec["epochs"]
    broker.close()
