"""The fair claim, without Celery, on SQLite and PostgreSQL: a message's worker takes the claimable
job of the tenant with the fewest running jobs, each job is still won exactly once, and the job
whose message was used for another is published again."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from service.auth import ensure_tenant
from service.database import utcnow
from worker.claim import claim_fairest
from worker.runner import Outcome, run_job

from tests.support.rows import add_dataset, add_job, job_row, jobs, set_job
from tests.support.specs import job_spec

TENANT_PREFIX = "fair-"


@pytest.fixture(autouse=True)
def finish_leftovers(engine):
    """Cancel this module's jobs that a test left queued or running: the suite shares one database,
    and the next test's messages must not find them fairer than its own jobs."""
    yield
    with engine.begin() as connection:
        connection.execute(update(jobs).where(jobs.c.tenant.startswith(TENANT_PREFIX),
                                              jobs.c.status.in_(("queued", "running", "cancelling")))
                           .values(status="cancelled", lease_token=None, finished_at=utcnow()))


def tenant_jobs(engine, dataset_id: str, tenant: str, count: int, start: int, **values) -> list[str]:
    """``count`` queued jobs of ``tenant``, created one second apart from ``start`` seconds ago."""
    tenant = TENANT_PREFIX + tenant
    ensure_tenant(engine, tenant)
    now = utcnow()
    return [add_job(engine, dataset_id, tenant=tenant, created_at=now - timedelta(seconds=start - index), **values)
            for index in range(count)]


def claim(engine, message_job_id: str):
    with engine.begin() as connection:
        return claim_fairest(connection, message_job_id, lease_seconds=60)


def test_the_tenant_with_fewest_running_jobs_goes_first_whatever_the_message(engine):
    dataset_id = add_dataset(engine)
    a_jobs = tenant_jobs(engine, dataset_id, "a", 4, start=100)
    [b_job] = tenant_jobs(engine, dataset_id, "b", 1, start=10)  # Submitted last.

    taken = [claim(engine, message).job_id for message in a_jobs[:2]]
    # A's first job (its own message; nobody runs anything), then B's: A has one running, B none.
    assert taken == [a_jobs[0], b_job]
    # Now one each: a tie, so the message's own job.
    assert claim(engine, a_jobs[3]).job_id == a_jobs[3]
    assert [job_row(engine, job_id).status for job_id in [*a_jobs, b_job]] == \
        ["running", "queued", "queued", "running", "running"]


def test_a_message_whose_job_is_not_claimable_claims_nothing(engine):
    dataset_id = add_dataset(engine)
    [held, waiting] = tenant_jobs(engine, dataset_id, "c", 2, start=50)
    assert claim(engine, held).job_id == held

    assert claim(engine, held) is None  # A duplicate message: its job is held; the other keeps its own message.
    assert claim(engine, "f" * 32) is None
    assert job_row(engine, waiting).status == "queued"


def test_a_dead_workers_job_is_claimable_as_before(engine):
    dataset_id = add_dataset(engine)
    [job_id] = tenant_jobs(engine, dataset_id, "d", 1, start=30)
    first = claim(engine, job_id)
    assert claim(engine, job_id) is None  # Its worker is alive.
    set_job(engine, job_id, heartbeat_at=utcnow() - timedelta(seconds=61))

    second = claim(engine, job_id)

    assert (second.job_id, second.attempts) == (job_id, 2) and second.lease_token != first.lease_token


def test_racing_fair_claims_win_each_job_once(engine):
    dataset_id = add_dataset(engine)
    job_ids = tenant_jobs(engine, dataset_id, "e", 3, start=80) + tenant_jobs(engine, dataset_id, "f", 3,
                                                                                   start=70)
    start_together = threading.Barrier(len(job_ids))
    claims = []

    def race(message_job_id: str):
        start_together.wait()
        claims.append(claim(engine, message_job_id))

    threads = [threading.Thread(target=race, args=(job_id,)) for job_id in job_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    won = [claim for claim in claims if claim is not None]
    assert won and len({claim.job_id for claim in won}) == len(won)  # No job won twice.
    assert all(job_row(engine, job_id).attempts == [claim.job_id for claim in won].count(job_id)
               for job_id in job_ids)
    # Each winner holds its job's lease. A message that found its own job already taken by a
    # faster racer claims nothing: that job's message was used, and the job it took keeps its own.
    assert all(job_row(engine, claim.job_id).lease_token == claim.lease_token for claim in won)


def test_the_job_whose_message_trained_another_is_published_again(engine):
    dataset_id = add_dataset(engine)
    spec = job_spec(epochs=2)
    [running] = tenant_jobs(engine, dataset_id, "g", 1, start=60, spec=spec)
    [waiting] = tenant_jobs(engine, dataset_id, "g", 1, start=50, spec=spec)
    [other] = tenant_jobs(engine, dataset_id, "h", 1, start=40, spec=spec)
    assert claim(engine, running).job_id == running
    published_before = job_row(engine, waiting).published_at

    assert run_job(waiting) == Outcome.SUCCEEDED  # The message of G's second job trained H's.

    assert job_row(engine, other).status == "succeeded"
    republished = job_row(engine, waiting)
    assert republished.status == "queued" and republished.published_at is not None
    assert republished.published_at != published_before
