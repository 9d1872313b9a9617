"""The fair claim, without Celery, on SQLite and PostgreSQL: a message's worker takes the claimable
job of the tenant with the fewest running jobs, each job is still won exactly once, and the job
whose message was used for another is published again."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from service.auth import ensure_tenant
from service.database import utcnow
from worker.claim import claim_fairest, retry_deadlocks
from worker.runner import Outcome, claim_in_transaction, run_job

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
    """A claim as the worker makes it: in its own transaction, again if a deadlock rolled it back."""
    with engine.connect() as connection:
        return retry_deadlocks(lambda: claim_in_transaction(connection, message_job_id, lease_seconds=60))


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
    claims, errors = [], []

    def race(message_job_id: str):
        start_together.wait()
        try:
            claims.append(claim(engine, message_job_id))
        except Exception as error:  # A claim must not fail, whatever the race.
            errors.append(error)

    threads = [threading.Thread(target=race, args=(job_id,)) for job_id in job_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
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


def test_a_claim_rolled_back_to_end_a_deadlock_is_tried_again(engine):
    """A real deadlock on PostgreSQL, the claim its victim: another transaction holds the message's
    job A and waits for job B, which the claim's transaction holds; the claim then waits for A.
    PostgreSQL rolls the claim back; :func:`retry_deadlocks` runs it again and it wins A."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: no deadlock")
    dataset_id = add_dataset(engine)
    job_a, job_b = tenant_jobs(engine, dataset_id, "g", 2, start=40)
    lock = select(jobs.c.id).with_for_update()
    other, errors = engine.connect(), []
    other_transaction = other.begin()
    other.execute(text("SET LOCAL deadlock_timeout = '30s'"))  # So the claim, not this one, is the victim.
    other.execute(lock.where(jobs.c.id == job_a))

    def other_takes_b():
        try:
            other.execute(lock.where(jobs.c.id == job_b))  # Waits for the claim's transaction.
            other_transaction.commit()
        except Exception as error:
            errors.append(error)

    waiter = threading.Thread(target=other_takes_b)
    tries = []

    def attempt():
        tries.append(len(tries) + 1)
        with engine.connect() as connection, connection.begin():
            if len(tries) == 1:
                connection.execute(text("SET LOCAL deadlock_timeout = '200ms'"))
                connection.execute(lock.where(jobs.c.id == job_b))
                waiter.start()
                deadline = time.monotonic() + 10
                while not connection.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()")).scalar():
                    assert time.monotonic() < deadline, "the other transaction never waited for B"
                    time.sleep(0.01)
            return claim_fairest(connection, job_a, lease_seconds=60)

    try:
        won = retry_deadlocks(attempt)
    finally:  # Whatever failed, the other transaction lets go of its locks (the next tests need the rows).
        if waiter.is_alive():
            waiter.join(timeout=10)
        other.close()

    assert tries == [1, 2] and errors == []
    assert won.job_id == job_a and job_row(engine, job_a).attempts == 1
    assert job_row(engine, job_b).status == "queued"
