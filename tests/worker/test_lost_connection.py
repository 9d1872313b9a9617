"""A database connection dropped mid-job (PostgreSQL's pg_terminate_backend, as a restart or a
failover would): the worker hands the job back at once, counting the attempt only when it had
saved no checkpoint. In process, without Celery; PostgreSQL only (SQLite has no connection to drop)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from service.app_state import app_state
from worker.runner import Outcome, run_job

from tests.support.rows import add_dataset, add_job, checkpoint_epoch, job_row
from tests.support.specs import job_spec


def terminate_other_backends(engine) -> int:
    with engine.connect() as connection:
        ended = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
        connection.commit()
    return ended


@pytest.mark.parametrize("checkpoint_seconds, attempts_after", [
    (0, 0),  # A checkpoint at every epoch: the attempt made progress the next one keeps; not counted.
    (1000, 1),  # None before the last epoch: nothing kept, so it counts (a job whose writes keep
                # bringing the database down must still end after max_attempts).
])
def test_a_lost_connection_hands_the_job_back_at_once(make_app, hook_epochs, checkpoint_seconds, attempts_after):
    app = make_app(checkpoint_seconds=checkpoint_seconds)
    engine = app_state(app).engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no connection to drop")
    job_id = add_job(engine, add_dataset(engine), spec=job_spec(epochs=8))
    ended = []  # Once: the resumed attempt trains epoch 3 again.
    hook_epochs(before=lambda record: record["epoch"] == 3 and not ended
                and ended.append(terminate_other_backends(engine)))

    with app.app_context():
        assert run_job(job_id) == Outcome.RELEASED

    assert ended and ended[0] >= 1
    job = job_row(engine, job_id)
    assert (job.status, job.lease_token, job.attempts) == ("queued", None, attempts_after)
    assert job.published_at is not None  # Published again at once, not left for the reconciler.
    assert checkpoint_epoch(engine, job_id) == (2 if checkpoint_seconds == 0 else None)
    with app.app_context():  # The next delivery resumes it and it ends.
        assert run_job(job_id) == Outcome.SUCCEEDED
    assert job_row(engine, job_id).attempts == attempts_after + 1
