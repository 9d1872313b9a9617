"""Per-key rate limits on /v1, counted with the ``limits`` library (moving window).

The counts live in Redis in production, so every API process shares them. When that storage
cannot be reached, the limiter counts in the process's own memory instead (the limit then holds
per process, so it is looser by the number of processes), logs a warning, and tries the storage
again after ``RETRY_STORAGE_SECONDS``: a limiter outage never fails or refuses a request.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from flask import Flask, g, request
from limits import parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from .auth import PROTECTED_PREFIX
from .errors import ApiError
from .settings import Settings

log = logging.getLogger(__name__)

RETRY_STORAGE_SECONDS = 5.0
# A storage that does not answer within this must not hold up the request it limits.
STORAGE_TIMEOUT_SECONDS = 0.25


class TooManyRequests(ApiError):
    status, title, type = 429, "Too Many Requests", "urn:axon:problem:too-many-requests"

    def __init__(self, detail: str, retry_after: float):
        # Retry-After is whole seconds (RFC 9110 §10.2.3); rounding down would invite an early retry.
        super().__init__(detail, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


class RateLimiter:
    """``hit(client_id)`` counts one request and says how long to wait when over the limit."""

    def __init__(self, limit: str, storage_url: str):
        self.limit = parse(limit)
        self.storage_url = storage_url
        self.primary = self._open(storage_url)
        self.fallback = MovingWindowRateLimiter(MemoryStorage())
        self._down_until = 0.0
        self._lock = threading.Lock()

    @staticmethod
    def _open(url: str) -> MovingWindowRateLimiter:
        options = {}
        if url.startswith(("redis://", "rediss://")):
            options = {"socket_connect_timeout": STORAGE_TIMEOUT_SECONDS, "socket_timeout": STORAGE_TIMEOUT_SECONDS}
        storage: Storage = storage_from_string(url, **options)
        return MovingWindowRateLimiter(storage)

    def hit(self, client_id: str) -> float | None:
        """Count a request by ``client_id``; None when allowed, else seconds until one would be."""
        limiter = self.fallback if time.monotonic() < self._down_until else self.primary
        try:
            return self._hit(limiter, client_id)
        except Exception as error:  # Redis down or refusing: any failure of the storage, by design.
            with self._lock:
                if time.monotonic() >= self._down_until:
                    log.warning("rate limit storage %s unreachable (%s); counting in memory for %.0f s",
                                self.storage_url, error, RETRY_STORAGE_SECONDS)
                self._down_until = time.monotonic() + RETRY_STORAGE_SECONDS
            return self._hit(self.fallback, client_id)

    def _hit(self, limiter: MovingWindowRateLimiter, client_id: str) -> float | None:
        if limiter.hit(self.limit, client_id):
            return None
        reset_at = limiter.get_window_stats(self.limit, client_id).reset_time
        return max(reset_at - time.time(), 0.0)


def init_rate_limit(app: Flask, settings: Settings) -> None:
    """Count every authenticated /v1 request against its key (after ``init_auth``'s hook)."""
    limiter = RateLimiter(settings.rate_limit, settings.resolved_rate_limit_storage_url)
    app.extensions["axon.rate_limiter"] = limiter

    @app.before_request
    def _limit():
        if not request.path.startswith(PROTECTED_PREFIX):
            return
        wait = limiter.hit(g.client_id)
        if wait is not None:
            raise TooManyRequests(f"more than {settings.rate_limit} requests for this API key; "
                                  f"retry in {max(1, math.ceil(wait))} s", wait)
