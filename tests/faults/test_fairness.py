"""Two tenants on two real workers: one tenant's burst of long jobs must not hold every worker
while the other's short job waits behind all of it.

Here rather than in tests/integration because it needs workers of its own and nothing else on
the training queue: this suite gives each test a private Redis and no shared worker.
"""

from __future__ import annotations

import httpx

from service.auth import create_key
from tests.integration.test_training import create_dataset, submit

from tests.support.rows import engine_of, job_row

from .jobs import log_count, wait_terminal
from .test_worker_faults import SLOW_DATA, SLOW_SPEC

A_JOBS = 4
A_SPEC = {**SLOW_SPEC, "epochs": 30}  # Seconds each, on the test machine.
B_SPEC = {**SLOW_SPEC, "epochs": 2, "batch_size": 30}  # A tenth of a second.


def test_another_tenants_short_job_starts_within_one_of_the_first_tenants_job_lengths(api, api_app, start_worker):
    workers = [start_worker(wait=False) for _ in range(2)]
    for worker in workers:
        worker.wait_ready(60)
    b_key = create_key(engine_of(api_app), "tenant-b")
    with httpx.Client(base_url=api.base_url, timeout=30, headers={"Authorization": f"Bearer {b_key}"}) as b_api:
        a_dataset, b_dataset = create_dataset(api, **SLOW_DATA), create_dataset(b_api, n_samples=60)
        # Tenant A's burst first, then B's one job: the broker holds five messages in that order.
        a_ids = [submit(api, a_dataset, **A_SPEC)["id"] for _ in range(A_JOBS)]
        b_id = submit(b_api, b_dataset, **B_SPEC)["id"]

    logs = lambda: "\n".join(worker.log() for worker in workers)  # noqa: E731
    a_jobs = [wait_terminal(api_app, job_id, 120, logs) for job_id in a_ids]
    b_job = job_row(api_app, b_id)

    assert [(job.status, job.attempts) for job in [*a_jobs, b_job]] == [("succeeded", 1)] * (A_JOBS + 1), logs()
    for job_id in [*a_ids, b_id]:
        assert log_count(workers, f"job {job_id} attempt") == 1, logs()  # Each trained once.
    first_done = min(a_jobs, key=lambda job: job.finished_at)
    a_job_length = first_done.finished_at - first_done.started_at
    b_wait = b_job.started_at - b_job.created_at
    # With two workers, B's job takes the first worker that A's first two jobs free, not a turn
    # after all four: it waits about one of A's job-lengths (submitted just after A's first two
    # started), where first come, first served made it wait about two. Half a job-length of margin
    # either way, for a loaded machine.
    assert b_wait < 1.5 * a_job_length, (b_wait, a_job_length, logs())
    assert a_job_length.total_seconds() > 1  # Otherwise the test could not tell a turn from two.
