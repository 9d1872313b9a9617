"""The reconciler without Celery, on SQLite and PostgreSQL; staleness comes from backdated rows.

The database is shared by the suite, so every assertion looks only at the test's own jobs.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from service.app_state import app_state
from service.database import utcnow
from worker.periodic import ReconcilerThread
from worker.reconciler import find_unpublished, mark_published, reconcile
from worker.runner import Outcome, run_job

from tests.support.rows import add_dataset, add_job, backdate, job_row

LEASE, REPUBLISH = 60, 30  # The default settings' seconds.


class Recorder:
    """Stands in for the broker: remembers what was published."""

    def __init__(self):
        self.published = []
        self.lock = threading.Lock()

    def __call__(self, job_id: str) -> bool:
        with self.lock:
            self.published.append(job_id)
        return True


def make_jobs(engine) -> dict[str, str]:
    """One job in each situation the reconciler must tell apart; {situation: job id}."""
    dataset_id = add_dataset(engine, n_samples=50)
    jobs = {
        "queued_never_published": add_job(engine, dataset_id),
        "queued_published_long_ago": add_job(engine, dataset_id),
        "queued_just_published": add_job(engine, dataset_id),
        "running_stale": add_job(engine, dataset_id, status="running", lease_token="a" * 32, attempts=1),
        "running_alive": add_job(engine, dataset_id, status="running", lease_token="b" * 32, attempts=1),
        "succeeded": add_job(engine, dataset_id, status="succeeded"),
    }
    backdate(engine, jobs["queued_published_long_ago"], "published_at", REPUBLISH + 1)
    backdate(engine, jobs["queued_just_published"], "published_at", 1)
    backdate(engine, jobs["running_stale"], "heartbeat_at", LEASE + 1)
    backdate(engine, jobs["running_stale"], "published_at", REPUBLISH + 1)
    backdate(engine, jobs["running_alive"], "heartbeat_at", 1)
    backdate(engine, jobs["succeeded"], "published_at", 3600)
    return jobs


STALE = {"queued_never_published", "queued_published_long_ago", "running_stale"}


def test_republishes_stale_queued_and_running_jobs_only(engine):
    jobs = make_jobs(engine)
    recorder = Recorder()

    result = reconcile(publish=recorder)

    mine = {situation for situation, job_id in jobs.items() if job_id in recorder.published}
    assert mine == STALE
    assert set(result.published) >= {jobs[situation] for situation in STALE}
    for situation in STALE:
        published_at = job_row(engine, jobs[situation]).published_at
        assert published_at is not None and (time.time() - published_at.timestamp()) < 30
    # Published just now, so the next run leaves them alone.
    again = Recorder()
    reconcile(publish=again)
    assert not set(again.published) & set(jobs.values())


def test_a_republished_stale_job_is_taken_over_and_finishes(engine):
    job_id = add_job(engine, add_dataset(engine, n_samples=50), status="running", lease_token="c" * 32, attempts=1)
    backdate(engine, job_id, "heartbeat_at", LEASE + 1)
    recorder = Recorder()

    reconcile(publish=recorder)
    assert job_id in recorder.published
    assert run_job(job_id) == Outcome.SUCCEEDED
    assert job_row(engine, job_id).attempts == 2


def test_two_reconcilers_that_read_the_same_jobs_publish_each_once(engine, app):
    jobs = make_jobs(engine)
    settings = app_state(app).settings
    now = utcnow()
    with engine.connect() as first, engine.connect() as second:
        first_candidates = find_unpublished(first, now, settings)
        second_candidates = find_unpublished(second, now, settings)
        assert {jobs[situation] for situation in STALE} <= {job_id for job_id, _ in second_candidates}
        first_won = mark_published(first, first_candidates, now, settings)
        second_won = mark_published(second, second_candidates, now, settings)

    assert {jobs[situation] for situation in STALE} <= set(first_won)
    assert not set(second_won) & set(jobs.values())


def test_racing_reconcilers_publish_every_stale_job_exactly_once(engine, app):
    jobs = make_jobs(engine)
    recorders = [Recorder(), Recorder()]
    start_together = threading.Barrier(2)

    def run(recorder):
        with app.app_context():
            start_together.wait()
            reconcile(publish=recorder)

    threads = [threading.Thread(target=run, args=(recorder,)) for recorder in recorders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    counts = Counter(job_id for recorder in recorders for job_id in recorder.published if job_id in jobs.values())
    assert counts == Counter({jobs[situation]: 1 for situation in STALE})


def test_abandoned_cancellations_end_cancelled(engine):
    dataset_id = add_dataset(engine, n_samples=50)
    stale = add_job(engine, dataset_id, status="cancelling", lease_token="d" * 32)
    never_started = add_job(engine, dataset_id, status="cancelling")
    alive = add_job(engine, dataset_id, status="cancelling", lease_token="e" * 32)
    backdate(engine, stale, "heartbeat_at", LEASE + 1)
    backdate(engine, alive, "heartbeat_at", 1)

    result = reconcile(publish=Recorder())

    assert {stale, never_started} <= set(result.cancelled) and alive not in result.cancelled
    for job_id in (stale, never_started):
        job = job_row(engine, job_id)
        assert (job.status, job.lease_token) == ("cancelled", None) and job.finished_at is not None
    assert job_row(engine, alive).status == "cancelling"


def test_the_periodic_thread_reconciles_until_stopped(make_app):
    app = make_app()
    engine = app_state(app).engine
    job_id = add_job(engine, add_dataset(engine, n_samples=50))
    thread = ReconcilerThread(app, interval_seconds=0.05)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while job_row(engine, job_id).published_at is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert job_row(engine, job_id).published_at is not None
    finally:
        thread.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_failed_publish_is_retried_at_the_next_run(engine):
    """With the broker down the claims are released, so the next run publishes, not one 30 s later."""
    jobs = make_jobs(engine)
    attempts = []

    def broker_down(job_id: str) -> bool:
        attempts.append(job_id)
        return False

    assert reconcile(publish=broker_down).published == []
    assert len(attempts) == 1  # The first failure stops the run: the rest would fail too.
    for situation in STALE:
        assert job_row(engine, jobs[situation]).published_at is None
    recorder = Recorder()
    reconcile(publish=recorder)
    assert {jobs[situation] for situation in STALE} <= set(recorder.published)
