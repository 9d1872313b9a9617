"""The sweep scheduler and ASHA on SQLite and PostgreSQL, without Celery: bounds that hold under
concurrent callers, a lost wake-up the reconciler makes good, and pruned trials."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import insert, select, update

from service.database import utcnow
from service.tables import Job, Sweep, Tenant, new_id
from service.sweep_scheduler import advance
from worker.reconciler import reconcile
from worker.runner import Outcome, run_job

from tests.support.rows import add_dataset
from tests.support.specs import job_spec

jobs, sweeps = Job.__table__, Sweep.__table__
SPACE = {"/optimizer/learning_rate": {"type": "log_uniform", "low": 1e-5, "high": 0.1}}


class Recorder:
    """A publish that records the ids and always succeeds."""

    def __init__(self):
        self.published: list[str] = []

    def __call__(self, job_id: str) -> bool:
        self.published.append(job_id)
        return True


MADE: list[str] = []  # The sweeps this module's tests made, closed after each test.


@pytest.fixture(autouse=True)
def close_sweeps(engine):
    """The database is shared by the worker suite: a queued trial left behind would be claimed by
    another test's worker (the fairest job), so every sweep made here ends with its test."""
    yield
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(update(jobs).where(jobs.c.sweep_id.in_(MADE), jobs.c.status.in_(("queued", "running")))
                           .values(status="cancelled", finished_at=now))
        connection.execute(update(sweeps).where(sweeps.c.id.in_(MADE), sweeps.c.status.in_(("queued", "running")))
                           .values(status="cancelled", finished_at=now))
    MADE.clear()


def add_sweep(engine, dataset_id: str, *, n_trials: int, max_parallel: int, strategy: str = "random",
              epochs: int = 4, asha: dict | None = None) -> str:
    """A sweep of its own tenant (so other tests' jobs do not count against its cap); returns its id."""
    tenant, sweep_id = f"t-{new_id()[:12]}", new_id()
    MADE.append(sweep_id)
    with engine.begin() as connection:
        connection.execute(insert(Tenant.__table__).values(name=tenant, created_at=utcnow()))
        connection.execute(insert(sweeps).values(
            id=sweep_id, tenant=tenant, dataset_id=dataset_id, spec=job_spec(epochs=epochs), space=SPACE,
            strategy=strategy, asha=asha, n_trials=n_trials, objective_metric="val_loss", objective_mode="min",
            max_parallel=max_parallel, seed=11, status="queued", created_at=utcnow()))
    return sweep_id


def trials(engine, sweep_id: str):
    with engine.connect() as connection:
        return connection.execute(select(jobs).where(jobs.c.sweep_id == sweep_id).order_by(jobs.c.trial)).all()


def test_concurrent_advances_never_pass_max_parallel_nor_repeat_a_trial(engine):
    sweep_id = add_sweep(engine, add_dataset(engine), n_trials=20, max_parallel=3)
    barrier, errors = threading.Barrier(6), []

    def advance_at_once():
        try:
            barrier.wait()
            advance(engine, sweep_id, max_active_jobs=100, publish=Recorder())
        except Exception as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=advance_at_once) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [row.trial for row in trials(engine, sweep_id)] == [0, 1, 2]


def test_the_tenant_cap_bounds_a_sweep_below_its_max_parallel(engine):
    sweep_id = add_sweep(engine, add_dataset(engine), n_trials=20, max_parallel=8)
    created = advance(engine, sweep_id, max_active_jobs=2, publish=Recorder())
    assert len(created) == 2 and len(trials(engine, sweep_id)) == 2


def test_a_trial_ended_without_the_workers_hook_is_followed_by_the_reconciler(app, engine):
    sweep_id = add_sweep(engine, add_dataset(engine), n_trials=3, max_parallel=1)
    advance(engine, sweep_id, max_active_jobs=100, publish=Recorder())
    (first,) = trials(engine, sweep_id)
    # Its end reached nobody: as if the worker died right after writing it.
    with engine.begin() as connection:
        connection.execute(update(jobs).where(jobs.c.id == first.id).values(status="failed", finished_at=utcnow()))
    recorder = Recorder()

    result = reconcile(publish=recorder)

    second = trials(engine, sweep_id)[1]
    assert second.trial == 1 and second.status == "queued"
    assert second.id in result.trials and second.id in recorder.published


def test_trials_run_by_the_worker_finish_the_sweep_and_asha_prunes(app, engine):
    sweep_id = add_sweep(engine, add_dataset(engine), n_trials=6, max_parallel=2, strategy="asha", epochs=9,
                         asha={"min_epochs": 1, "reduction_factor": 3})
    advance(engine, sweep_id, max_active_jobs=100, publish=Recorder())
    outcomes = []
    for _ in range(12):
        queued = [row.id for row in trials(engine, sweep_id) if row.status == "queued"]
        if not queued:
            break
        outcomes.append(run_job(queued[0]))
    rows = trials(engine, sweep_id)
    assert [row.trial for row in rows] == list(range(6))
    assert Outcome.PRUNED in outcomes and Outcome.SUCCEEDED in outcomes
    for row in rows:
        if row.status == "pruned":
            assert row.epoch in (1, 3) and row.model_id is None and row.finished_at is not None
        else:
            assert (row.status, row.epoch) == ("succeeded", 9) and row.model_id is not None
    with engine.connect() as connection:
        assert connection.execute(select(sweeps.c.status).where(sweeps.c.id == sweep_id)).scalar_one() == "succeeded"


def test_a_sweep_whose_dataset_is_gone_ends_once_its_trials_have(app, engine):
    dataset_id = add_dataset(engine)
    sweep_id = add_sweep(engine, dataset_id, n_trials=5, max_parallel=1)
    advance(engine, sweep_id, max_active_jobs=100, publish=Recorder())
    (first,) = trials(engine, sweep_id)
    with engine.begin() as connection:  # The dataset deleted once no trial was active, as the API allows.
        connection.execute(update(jobs).where(jobs.c.id == first.id).values(status="succeeded", finished_at=utcnow()))
        connection.execute(update(sweeps).where(sweeps.c.id == sweep_id).values(dataset_id=None))

    assert advance(engine, sweep_id, max_active_jobs=100, publish=Recorder()) == []

    with engine.connect() as connection:
        status = connection.execute(select(sweeps.c.status).where(sweeps.c.id == sweep_id)).scalar_one()
    assert status == "succeeded" and len(trials(engine, sweep_id)) == 1


def test_a_sweep_at_max_parallel_adds_and_publishes_nothing(engine):
    sweep_id = add_sweep(engine, add_dataset(engine), n_trials=5, max_parallel=1)
    advance(engine, sweep_id, max_active_jobs=100, publish=Recorder())
    recorder = Recorder()
    assert advance(engine, sweep_id, max_active_jobs=100, publish=recorder) == [] and recorder.published == []
    assert len(trials(engine, sweep_id)) == 1
