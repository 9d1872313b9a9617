"""The heartbeat thread keeps a long epoch's lease, stops with the job, and notices a lost lease.

On SQLite and PostgreSQL, without Celery; leases of a fraction of a second stand in for a minute.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

import worker.runner
from service.app_state import app_state
from service.database import utcnow
from worker.claim import claim_job
from worker.heartbeat import HeartbeatThread
from worker.runner import Outcome, run_job

from tests.support.rows import add_dataset, add_job, backdate, job_row

LEASE_SECONDS = 0.3  # Beats every 0.1 s.


@pytest.fixture
def heartbeats(monkeypatch):
    """The heartbeat threads the runner starts, in order."""
    started = []

    class Recorded(HeartbeatThread):
        def start(self):
            started.append(self)
            super().start()

    monkeypatch.setattr(worker.runner, "HeartbeatThread", Recorded)
    return started


def claimable_by_another(engine, job_id: str) -> bool:
    """Whether a second worker with the same lease would take the job now (it then holds it)."""
    with engine.begin() as connection:
        return claim_job(connection, job_id, LEASE_SECONDS) is not None


def test_an_epoch_longer_than_the_lease_keeps_its_worker(make_app, hook_epochs, heartbeats):
    app = make_app(lease_seconds=LEASE_SECONDS)
    engine = app_state(app).engine
    job_id = add_job(engine, add_dataset(engine))
    taken_mid_epoch = []

    def slow_epoch_2(record):
        if record["epoch"] == 2:
            time.sleep(3 * LEASE_SECONDS)  # No epoch write in that time: only the thread's beats.
            taken_mid_epoch.append(claimable_by_another(engine, job_id))

    hook_epochs(before=slow_epoch_2)
    with app.app_context():
        assert run_job(job_id) == Outcome.SUCCEEDED

    # Three leases without an epoch write, and no other worker could take the job: the thread's
    # beats kept it. How many got through depends on how long each commit waits for a shared,
    # busy disk (in one clean-clone run on PostgreSQL, one beat in the three leases), so the count
    # only has to show that the thread beat.
    assert taken_mid_epoch == [False]
    [heartbeat] = heartbeats
    assert heartbeat.beats >= 1
    assert job_row(engine, job_id).attempts == 1


@pytest.mark.parametrize("ending", ["succeeds", "crashes"])
def test_the_heartbeat_stops_when_the_job_ends(make_app, hook_epochs, heartbeats, ending):
    app = make_app(lease_seconds=LEASE_SECONDS)
    engine = app_state(app).engine
    job_id = add_job(engine, add_dataset(engine))

    def slow_epoch_1(record):
        if record["epoch"] == 1:
            time.sleep(LEASE_SECONDS)  # Long enough for a few beats.
        if ending == "crashes" and record["epoch"] == 4:
            raise RuntimeError("worker bug")

    hook_epochs(before=slow_epoch_1)
    with app.app_context():
        outcome = run_job(job_id)

    assert outcome == (Outcome.SUCCEEDED if ending == "succeeds" else Outcome.RETRY)
    [heartbeat] = heartbeats
    assert heartbeat.beats >= 1 and not heartbeat.is_alive()
    assert heartbeat.name not in {thread.name for thread in threading.enumerate()}
    if ending == "crashes":
        # Nothing keeps a crashed attempt's lease alive: it goes stale and another worker takes over.
        last_beat = job_row(engine, job_id).heartbeat_at
        time.sleep(LEASE_SECONDS)
        assert job_row(engine, job_id).heartbeat_at == last_beat
        assert claimable_by_another(engine, job_id)


def test_the_heartbeat_notices_a_lost_lease_and_writes_nothing_more(make_app):
    app = make_app()
    engine = app_state(app).engine
    job_id = add_job(engine, add_dataset(engine, n_samples=50))
    with engine.begin() as connection:
        claim = claim_job(connection, job_id, lease_seconds=60)
    heartbeat = HeartbeatThread(engine, claim, interval_seconds=0.05)
    heartbeat.start()
    try:
        backdate(engine, job_id, "heartbeat_at", 3600)
        deadline = time.monotonic() + 5
        while job_row(engine, job_id).heartbeat_at.timestamp() < time.time() - 60:
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.01)
        assert not heartbeat.lease_lost.is_set()

        # Two minutes on, by a second worker's clock, the first looks dead and the job is taken over.
        taken_at = utcnow() + timedelta(minutes=2)
        with engine.begin() as connection:
            successor = claim_job(connection, job_id, lease_seconds=60, now=taken_at)
        assert successor is not None
        assert heartbeat.lease_lost.wait(timeout=5)
        heartbeat.join(timeout=5)
        assert not heartbeat.is_alive()
    finally:
        heartbeat.stop()
    job = job_row(engine, job_id)
    assert (job.lease_token, job.attempts, job.heartbeat_at) == (successor.lease_token, 2, taken_at)
