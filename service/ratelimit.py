"""Per-key rate limits on /v1, counted with the ``limits`` library (moving window).

The counts live in Redis in production, so every API process shares them. When that storage
cannot be reached, the limiter counts in the process's own memory instead (the limit then holds
per process, so it is looser by the number of processes), logs one warning for the outage, and
tries the storage again every ``RETRY_STORAGE_SECONDS``, logging once more when it is back: a
limiter outage never fails or refuses a request.

A Redis round trip was ~0.2 ms of CPU per request, a third of a cached predict's own work, so
each process takes hits from the shared count in batches (``batch_size``: a hundredth of the
limit, between 1 and 10) and spends them locally; one thread per key fetches a batch at a time.
A process then holds at most ``batch - 1`` hits per key that Redis counted but no request has
used yet, so within any window a key is refused at most that many requests per process early,
or served that many late (hits counted at the end of one window, spent in the next).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Callable

from flask import Flask, g, request
from kombu.utils.url import maybe_sanitize_url
from limits import parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from .app_state import AppState
from .auth import PROTECTED_PREFIX
from .errors import TooManyRequests

log = logging.getLogger(__name__)

RETRY_STORAGE_SECONDS = 5.0
MAX_BATCH = 10
# Threads of one client fetch a batch one after another (a lock per stripe of client ids).
FETCH_STRIPES = 64
# A batch is at most this share of the limit, so batching never takes a visible part of it.
BATCH_SHARE = 100
# A storage that does not answer within this must not hold up the request it limits.
STORAGE_TIMEOUT_SECONDS = 0.25


class RateLimiter:
    """``hit(client_id)`` counts one request and says how long to wait when over the limit."""

    def __init__(self, limit: str, storage_url: str, clock: Callable[[], float] = time.monotonic):
        self.limit = parse(limit)
        self.storage_url = storage_url
        self.primary = self._open(storage_url)
        self.fallback = MovingWindowRateLimiter(MemoryStorage())
        self.clock = clock
        self.batch = batch_size(self.limit.amount)
        self._prepaid: dict[str, int] = {}  # Hits taken from the shared count and not yet spent, by client.
        self._fetching = [threading.Lock() for _ in range(FETCH_STRIPES)]
        self._down_since: float | None = None  # When the storage stopped answering; None while it answers.
        self._retry_at = 0.0
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
        if self._spend_prepaid(client_id):
            return None
        with self._fetching[hash(client_id) % FETCH_STRIPES]:
            # Another thread of this client may have fetched a batch while this one waited.
            if self._spend_prepaid(client_id):
                return None
            return self._count(client_id)

    def _count(self, client_id: str) -> float | None:
        if self._down_since is not None and self.clock() < self._retry_at:
            return self._hit(self.fallback, client_id)
        try:
            wait = self._hit(self.primary, client_id)
        except Exception as error:  # Redis down or refusing: any failure of the storage, by design.
            self._storage_failed(error)
            return self._hit(self.fallback, client_id)
        if self._down_since is not None:
            self._storage_answered()
        return wait

    def _storage_failed(self, error: Exception) -> None:
        with self._lock:
            now = self.clock()
            if self._down_since is None:
                self._down_since = now
                log.warning("rate limit storage %s unreachable (%s); counting in each process's memory "
                            "until it answers again", maybe_sanitize_url(self.storage_url), error)
            self._retry_at = now + RETRY_STORAGE_SECONDS

    def _storage_answered(self) -> None:
        with self._lock:
            if self._down_since is not None:
                log.warning("rate limit storage %s answers again after %.0f s; counting there again",
                            maybe_sanitize_url(self.storage_url), self.clock() - self._down_since)
                self._down_since = None

    def _spend_prepaid(self, client_id: str) -> bool:
        with self._lock:
            left = self._prepaid.get(client_id, 0)
            if left == 0:
                return False
            if left == 1:
                del self._prepaid[client_id]  # Only clients with hits in hand are kept.
            else:
                self._prepaid[client_id] = left - 1
            return True

    def _hit(self, limiter: MovingWindowRateLimiter, client_id: str) -> float | None:
        if self.batch > 1 and limiter.hit(self.limit, client_id, cost=self.batch):
            with self._lock:
                self._prepaid[client_id] = self._prepaid.get(client_id, 0) + self.batch - 1
            return None
        # Fewer than a batch left in the window (or no batching): one hit at a time.
        if limiter.hit(self.limit, client_id):
            return None
        reset_at = limiter.get_window_stats(self.limit, client_id).reset_time
        return max(reset_at - time.time(), 0.0)


def batch_size(limit_amount: int) -> int:
    """Hits a process takes from the shared count at once, for a limit of ``limit_amount`` per window."""
    return max(1, min(MAX_BATCH, limit_amount // BATCH_SHARE))


def init_rate_limit(app: Flask, state: AppState) -> None:
    """Count every authenticated /v1 request against its key (after ``init_auth``'s hook)."""
    settings, limiter = state.settings, state.rate_limiter

    @app.before_request
    def _limit():
        if not request.path.startswith(PROTECTED_PREFIX):
            return
        wait = limiter.hit(g.client_id)
        if wait is not None:
            raise TooManyRequests(f"more than {settings.rate_limit} requests for this API key; "
                                  f"retry in {max(1, math.ceil(wait))} s", wait)
