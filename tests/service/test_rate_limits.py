"""Per-key rate limits and the per-tenant cap on active jobs: 429 with Retry-After, never a 500,
also when the limiter's storage is down; the cap holds under concurrent submissions."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from service.app_state import app_state
from service.auth import create_key
from service.ratelimit import RateLimiter
from tests.support.databases import postgres_database

from tests.support.calls import spiral_dataset, submit_job
from tests.support.specs import SMALL_SPEC

from .test_auth import with_key

UNREACHABLE_REDIS = "redis://:s3cret-password@127.0.0.1:1/0"


def assert_too_many(response) -> int:
    """The answer is a 429 problem; returns its Retry-After in seconds."""
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(make_app):
    app = make_app(rate_limit="3/minute")
    client = app.test_client()
    assert [client.get("/v1/jobs").status_code for _ in range(3)] == [200, 200, 200]

    retry_after = assert_too_many(client.get("/v1/jobs"))

    assert retry_after <= 60
    # Counted per key: another key, even of the same tenant, has its own allowance.
    assert with_key(app, create_key(app_state(app).engine, "local")).get("/v1/jobs").status_code == 200
    assert client.get("/healthz").status_code == 200  # Outside /v1: not limited.


def test_with_the_limiter_storage_down_requests_are_served_and_still_limited_in_memory(make_app, caplog):
    app = make_app(rate_limit="3/minute", rate_limit_storage_url=UNREACHABLE_REDIS)
    client = app.test_client()

    with caplog.at_level(logging.WARNING, logger="service.ratelimit"):
        statuses = [client.get("/v1/jobs").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert_too_many(client.get("/v1/jobs"))
    warnings = [record.getMessage() for record in caplog.records if record.name == "service.ratelimit"]
    assert len(warnings) == 1 and "unreachable" in warnings[0]  # Once per outage, not once per request.
    assert "s3cret-password" not in warnings[0]


def test_the_rate_limit_setting_is_validated():
    from service.settings import Settings

    with pytest.raises(ValueError, match="not a rate limit"):
        Settings(rate_limit="plenty")


def test_a_tenant_at_its_active_job_cap_gets_429_until_a_job_ends(make_app):
    app = make_app(max_active_jobs=2)
    client = app.test_client()
    dataset_id = spiral_dataset(client)["id"]
    first, _ = submit_job(client, dataset_id), submit_job(client, dataset_id)

    response = client.post("/v1/jobs", json={"dataset_id": dataset_id, "spec": SMALL_SPEC})

    assert_too_many(response)
    assert "max_active_jobs" in response.get_json()["detail"]
    assert len(client.get("/v1/jobs").get_json()["items"]) == 2  # Nothing written for the refused job.
    # Another tenant has slots of its own.
    other = with_key(app, create_key(app_state(app).engine, "other"))
    submit_job(other, spiral_dataset(other)["id"])
    # A finished (here: cancelled) job frees its slot.
    assert client.post(f"/v1/jobs/{first['id']}/cancel").status_code == 202
    submit_job(client, dataset_id)


@pytest.fixture(params=["sqlite", "postgresql"])
def capped_app(request, make_app):
    if request.param == "sqlite":
        yield make_app(max_active_jobs=3)
        return
    import migrations

    with postgres_database("axon_job_cap") as url:
        migrations.upgrade(url)
        app = make_app(database_url=url, max_active_jobs=3)
        app.config["AXON_TEST_KEY"] = create_key(app_state(app).engine, "local")
        yield app
        app_state(app).engine.dispose()


def test_concurrent_submissions_never_exceed_the_cap(capped_app):
    dataset_id = spiral_dataset(capped_app.test_client())["id"]
    statuses: list[int] = []
    start = threading.Barrier(8)

    def submit():
        client = capped_app.test_client()
        start.wait()
        statuses.append(client.post("/v1/jobs", json={"dataset_id": dataset_id, "spec": SMALL_SPEC}).status_code)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [202] * 3 + [429] * 5
    assert len(capped_app.test_client().get("/v1/jobs").get_json()["items"]) == 3


@pytest.mark.parametrize("limit, expected_batch", [("1005/minute", 10), ("6000/minute", 10), ("150/minute", 1),
                                                   ("3/minute", 1)])
def test_a_process_takes_hits_in_batches_and_still_allows_exactly_the_limit(limit, expected_batch):
    limiter = RateLimiter(limit, "memory://")
    amount = int(limit.split("/")[0])
    assert limiter.batch == expected_batch
    allowed = [limiter.hit("key:a") is None for _ in range(amount + 5)]
    # The last few go one at a time when fewer than a batch remain: none lost, none extra.
    assert allowed == [True] * amount + [False] * 5


class SlowMemoryStorage(MemoryStorage):
    """Counts in memory, taking a moment per hit as a Redis round trip does, so threads overlap."""

    def acquire_entry(self, *args, **kwargs):
        time.sleep(0.001)
        return super().acquire_entry(*args, **kwargs)


def test_threads_of_one_key_fetch_one_batch_at_a_time():
    limiter = RateLimiter("1000/minute", "memory://")
    limiter.primary = MovingWindowRateLimiter(SlowMemoryStorage())
    start = threading.Barrier(16)
    refused = []

    def spend():
        start.wait()  # All at once, with nothing in hand: each would otherwise fetch a batch of its own.
        wait = limiter.hit("key:a")
        if wait is not None:
            refused.append(wait)

    threads = [threading.Thread(target=spend) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    counted = 1000 - limiter.primary.get_window_stats(limiter.limit, "key:a").remaining
    assert refused == []
    # 16 requests; at most one batch's remainder held back, not one per thread (160 counted).
    assert 16 <= counted <= 16 + limiter.batch - 1
