"""GET /metrics: job gauges read from the database, the broker's queue length, the predict histogram."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from service.app_state import app_state
from service.database import utcnow
from service.queue import TRAINING_QUEUE

from tests.support.rows import insert_job, insert_model

# Not the integration suite's database: its worker would take these test messages for tasks.
REDIS_URL = os.environ.get("AXON_TEST_METRICS_REDIS_URL", "redis://127.0.0.1:6379/12")


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, keyed by (name, sorted labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def test_metrics_is_public_and_not_an_api_operation(app, client):
    client.environ_base.pop("HTTP_AUTHORIZATION")
    assert client.get("/v1/jobs").status_code == 401  # The same client is refused under /v1.
    assert scrape(client)[("axon_database_up", ())] == 1
    assert "/metrics" not in client.get("/openapi.json").get_json()["paths"]


def test_jobs_by_status_and_queue_depth_count_the_rows(app, client):
    for status, count in {"queued": 3, "running": 2, "succeeded": 4, "failed": 1, "cancelled": 1}.items():
        for _ in range(count):
            insert_job(app, None, status, heartbeat_at=utcnow() if status == "running" else None)

    samples = scrape(client)

    jobs = {dict(labels)["status"]: value for (name, labels), value in samples.items() if name == "axon_jobs"}
    assert jobs == {"queued": 3, "running": 2, "succeeded": 4, "failed": 1, "cancelling": 0, "cancelled": 1,
                    "pruned": 0}
    assert samples[("axon_queue_depth", ())] == 3


def test_the_oldest_heartbeat_of_running_jobs_is_reported_without_naming_jobs(app, client):
    now = utcnow()
    fresh = insert_job(app, None, "running", heartbeat_at=now - timedelta(seconds=2))
    stale = insert_job(app, None, "cancelling", heartbeat_at=now - timedelta(seconds=90))
    insert_job(app, None, "succeeded", heartbeat_at=now - timedelta(seconds=500))  # Finished: not a heartbeat.

    samples = scrape(client)
    elapsed = (utcnow() - now).total_seconds()

    assert 90 <= samples[("axon_heartbeat_max_age_seconds", ())] <= 90 + elapsed
    text = client.get("/metrics").get_data(as_text=True)
    assert fresh.id not in text and stale.id not in text  # Public: no tenant's job ids.


def test_without_running_jobs_the_oldest_heartbeat_is_zero(client):
    samples = scrape(client)
    assert samples[("axon_heartbeat_max_age_seconds", ())] == 0


def test_a_predict_is_counted_in_the_latency_histogram(app, client, classifier):
    model = insert_model(app, classifier)
    before = scrape(client)

    response = client.post(f"/v1/models/{model.id}/predict", json={"inputs": [[0.0, 0.0, 0.0], [4.0, 4.0, 0.0]]})
    assert response.status_code == 200, response.get_json()
    after = scrape(client)

    # Other tests in this process predict too: compare with this test's own first scrape.
    assert after[("axon_predict_seconds_count", ())] == before[("axon_predict_seconds_count", ())] + 1
    assert after[("axon_predict_seconds_sum", ())] > before[("axon_predict_seconds_sum", ())]
    infinite = ("axon_predict_seconds_bucket", (("le", "+Inf"),))
    assert after[infinite] == before[infinite] + 1


def test_an_unreachable_database_is_reported_not_a_500(app, client):
    # A folder where the database file was: SQLite can no longer open it.
    path = Path(app_state(app).settings.resolved_database_url.removeprefix("sqlite:///"))
    path.rename(path.with_suffix(".moved"))
    path.mkdir()
    app_state(app).engine.dispose()

    samples = scrape(client)

    assert samples[("axon_database_up", ())] == 0
    assert not any(name == "axon_jobs" for name, _ in samples)


@pytest.fixture
def redis_broker():
    """A Redis database for the broker, with the training queue's keys removed afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    keys = [TRAINING_QUEUE] + [f"{TRAINING_QUEUE}\x06\x16{step}" for step in (3, 6, 9)]
    try:
        client.delete(*keys)
    except redis.RedisError as error:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({error})", pytrace=False)
    yield client
    client.delete(*keys)
    client.close()


def test_the_broker_queue_length_is_read_from_redis(make_app, redis_broker):
    redis_broker.lpush(TRAINING_QUEUE, "one", "two")
    redis_broker.lpush(f"{TRAINING_QUEUE}\x06\x163", "a message with priority 3")
    app = make_app(broker_url=REDIS_URL)

    samples = scrape(app.test_client())

    assert samples[("axon_broker_up", ())] == 1
    assert samples[("axon_broker_queue_length", ())] == 3


def test_a_broker_that_is_down_does_not_hold_up_the_scrape(make_app):
    # Nothing listens on port 1; the scrape answers at once, saying so.
    app = make_app(broker_url="redis://127.0.0.1:1/0")
    samples = scrape(app.test_client())
    assert samples[("axon_broker_up", ())] == 0
    assert ("axon_broker_queue_length", ()) not in samples
    assert samples[("axon_database_up", ())] == 1
