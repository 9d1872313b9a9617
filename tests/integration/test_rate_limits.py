"""The rate limit on real Redis: every API process shares one count per key."""

from __future__ import annotations

from service import create_app
from service.auth import create_key
from service.models import LOCAL_TENANT


def test_two_api_processes_share_one_count_per_key(database_url, redis_url, tmp_path):
    settings = {"database_url": database_url, "broker_url": redis_url, "home": tmp_path, "rate_limit": "4/minute"}
    first, second = create_app(settings), create_app(settings)  # As two gunicorn workers would be.
    assert first.extensions["axon.rate_limiter"].storage_url == redis_url
    key = create_key(first.extensions["axon.engine"], LOCAL_TENANT)  # A new key: a count of its own.
    headers = {"Authorization": f"Bearer {key}"}
    try:
        statuses = [app.test_client().get("/v1/jobs", headers=headers).status_code
                    for app in (first, second, first, second, first, second)]
    finally:
        for app in (first, second):
            app.extensions["axon.engine"].dispose()

    assert statuses == [200, 200, 200, 200, 429, 429]
