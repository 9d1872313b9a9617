"""The rate limit on real Redis: every API process shares one count per key, and an outage of
Redis moves the count to memory and back."""

from __future__ import annotations

import logging

from service.app_state import app_state
from service import create_app
from service.auth import create_key
from service.tables import LOCAL_TENANT
from service.ratelimit import RateLimiter
from tests.faults.conftest import RedisServer


def test_two_api_processes_share_one_count_per_key(database_url, redis_url, tmp_path):
    settings = {"database_url": database_url, "broker_url": redis_url, "home": tmp_path, "rate_limit": "4/minute"}
    first, second = create_app(settings), create_app(settings)  # As two gunicorn workers would be.
    assert app_state(first).rate_limiter.storage_url == redis_url
    key = create_key(app_state(first).engine, LOCAL_TENANT)  # A new key: a count of its own.
    headers = {"Authorization": f"Bearer {key}"}
    try:
        statuses = [app.test_client().get("/v1/jobs", headers=headers).status_code
                    for app in (first, second, first, second, first, second)]
    finally:
        for app in (first, second):
            app_state(app).engine.dispose()

    assert statuses == [200, 200, 200, 200, 429, 429]


def test_while_redis_is_down_the_limiter_counts_in_memory_and_goes_back_once_it_answers(tmp_path, caplog):
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    now = [0.0]
    limiter = RateLimiter("3/minute", redis_server.url, clock=lambda: now[0])
    try:
        assert limiter.hit("key:a") is None
        assert redis_server.client().keys("*")  # Counted in Redis.
        redis_server.kill()
        with caplog.at_level(logging.WARNING, logger="service.ratelimit"):
            during = [limiter.hit("key:a") is None for _ in range(4)]  # A fresh count in memory.
            now[0] += 6  # Past the retry delay: Redis is tried again, still down; no second warning.
            during.append(limiter.hit("key:a") is None)
            redis_server.start()  # Empty, as a Redis without persistence comes back.
            now[0] += 6
            after = [limiter.hit("key:a") is None for _ in range(4)]
    finally:
        redis_server.kill()

    assert during == [True, True, True, False, False]
    assert after == [True, True, True, False]  # Counting in Redis again, from its empty start.
    messages = [record.getMessage() for record in caplog.records if record.name == "service.ratelimit"]
    assert len(messages) == 2 and "unreachable" in messages[0] and "answers again" in messages[1]


def evalsha_calls(client) -> int:
    return int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


def test_processes_take_hits_from_redis_in_batches_and_together_never_exceed_the_limit(tmp_path):
    redis_server = RedisServer(tmp_path)  # Its own, so the command counts are this test's alone.
    redis_server.start()
    try:
        client = redis_server.client()
        first, second = (RateLimiter("1000/minute", redis_server.url) for _ in range(2))
        first.hit("key:warm-up")  # Loads the script.
        calls_before = evalsha_calls(client)
        allowed = sum(limiter.hit("key:b") is None for _ in range(300) for limiter in (first, second))
        calls = evalsha_calls(client) - calls_before
        allowed += sum(limiter.hit("key:b") is None for _ in range(600) for limiter in (first, second))
    finally:
        redis_server.kill()

    assert calls <= 600 / 10 + 2  # A round trip per 10 requests, not per request.
    # Each process may hold up to 9 paid-for hits it has not spent: the limit is reached early, never passed.
    assert 1000 - 2 * 9 <= allowed <= 1000
