"""A sweep across a worker SIGKILLed mid-trial and a Redis restarted empty: the database holds the
sweep, so every trial still runs, each exactly once to its end, and no trial index is lost or doubled."""

from __future__ import annotations

import re

from sqlalchemy import select

from service.tables import Job, Sweep
from service.queue import TRAINING_QUEUE
from tests.integration.test_training import SPEC, create_dataset
from tests.support.rows import age_lease, engine_of, job_row, metric_epochs

from .jobs import wait_for_epoch, wait_until

SPACE = {"/optimizer/learning_rate": {"type": "log_uniform", "low": 0.003, "high": 0.05}}
# Quick reconciling, so a lost message or a dead worker's trial is sent again within the test.
FAST_RECONCILE = {"AXON_RECONCILE_SECONDS": "0.5", "AXON_REPUBLISH_SECONDS": "2"}


def start_sweep(api, dataset_id: str, spec: dict, n_trials: int, max_parallel: int) -> str:
    response = api.post("/v1/sweeps", json={"dataset_id": dataset_id, "spec": spec, "space": SPACE,
                                            "strategy": "random", "n_trials": n_trials, "max_parallel": max_parallel,
                                            "seed": 5})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def sweep_row(api_app, sweep_id: str):
    with engine_of(api_app).connect() as connection:
        return connection.execute(select(Sweep.__table__).where(Sweep.__table__.c.id == sweep_id)).one()


def trials(api_app, sweep_id: str):
    jobs = Job.__table__
    with engine_of(api_app).connect() as connection:
        return connection.execute(select(jobs).where(jobs.c.sweep_id == sweep_id).order_by(jobs.c.trial)).all()


def wait_sweep_finished(api_app, sweep_id: str, seconds: float, explain):
    wait_until(lambda: sweep_row(api_app, sweep_id).status not in ("queued", "running"), seconds, explain)
    return sweep_row(api_app, sweep_id)


def assert_every_trial_ran_to_its_end_once(api_app, sweep_id: str, n_trials: int, epochs: int) -> list:
    rows = trials(api_app, sweep_id)
    assert [row.trial for row in rows] == list(range(n_trials))
    for row in rows:
        assert (row.status, row.epoch) == ("succeeded", epochs), row
        assert metric_epochs(api_app, row.id) == list(range(1, epochs + 1))
    return rows


def test_a_worker_killed_mid_sweep_loses_no_trial(api, api_app, start_worker):
    spec = {**SPEC, "epochs": 12, "batch_size": 3}
    settings = {**FAST_RECONCILE, "AXON_CHECKPOINT_SECONDS": "0", "AXON_LEASE_SECONDS": "2"}
    doomed, survivor = start_worker(settings=settings, wait=False), start_worker(settings=settings, wait=False)
    for process in (doomed, survivor):
        process.wait_ready(60)
    sweep_id = start_sweep(api, create_dataset(api, n_samples=1200), spec, n_trials=5, max_parallel=2)

    def doomed_trial() -> str | None:
        found = re.search(r"job (\w+) attempt 1: training from epoch 0", doomed.log())
        return found and found[1]

    wait_until(lambda: doomed_trial() is not None, 60, lambda: f"the doomed worker took no trial:\n{doomed.log()}")
    killed_id = doomed_trial()
    wait_for_epoch(api_app, killed_id, 2, 60, lambda: f"the trial did not get going:\n{doomed.log()}")
    doomed.kill()
    killed = job_row(api_app, killed_id)
    assert killed.status == "running" and killed.epoch < spec["epochs"], killed
    age_lease(api_app, killed_id)  # Its lease looks long gone: the survivor takes it over now.

    sweep = wait_sweep_finished(api_app, sweep_id, 120, survivor.log)

    assert sweep.status == "succeeded", survivor.log()
    rows = assert_every_trial_ran_to_its_end_once(api_app, sweep_id, 5, spec["epochs"])
    assert {row.id: row.attempts for row in rows}[killed_id] == 2  # Resumed by the survivor.
    assert f"job {killed_id} attempt 2: training from epoch" in survivor.log()


def test_a_redis_restarted_empty_mid_sweep_loses_no_trial_and_runs_none_twice(
        api, api_app, redis_server, start_worker):
    worker = start_worker(settings={**FAST_RECONCILE, "AXON_REPUBLISH_SECONDS": "3"})
    spec = {**SPEC, "epochs": 10, "batch_size": 3}
    sweep_id = start_sweep(api, create_dataset(api, n_samples=900), spec, n_trials=5, max_parallel=3)
    wait_until(lambda: any(row.status == "running" and row.epoch >= 1 for row in trials(api_app, sweep_id)), 60,
               lambda: f"no trial got going:\n{worker.log()}")
    broker = redis_server.client()
    # One worker trains one trial; the other two wait in Redis.
    assert broker.llen(TRAINING_QUEUE) == 2, [tuple(row) for row in trials(api_app, sweep_id)]
    broker.close()

    redis_server.kill()
    redis_server.start()
    sweep = wait_sweep_finished(api_app, sweep_id, 120, worker.log)

    assert sweep.status == "succeeded", worker.log()
    rows = assert_every_trial_ran_to_its_end_once(api_app, sweep_id, 5, spec["epochs"])
    for row in rows:
        assert row.attempts == 1, row
        assert worker.log().count(f"job {row.id} attempt") == 1, worker.log()
