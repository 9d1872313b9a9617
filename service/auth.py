"""API keys, and the tenant each /v1 request acts for.

A key is ``axon_`` followed by 43 URL-safe characters (256 random bits). Only its SHA-256 is
stored: a key is random, not a password a person chose, so a slow hash would add nothing against
guessing. A key found live is remembered for ``key_cache_seconds`` in each API process, so most
requests read no database at all (the lookup was most of a cached predict's cost); a revoked key
therefore still works there for at most that long. With ``auth`` off, every request acts for the
tenant ``local``.

Wrong keys cost a database read each, so they are throttled per client address
(``auth_failure_limit``, counted in each API process's memory): past the limit, a request from that
address whose key this process has not found live lately is a 429 without reading the database,
until the window frees. A live key already remembered still works from there, so a client behind
the same address as a guesser is not locked out with it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable

from flask import Flask, g, request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from .app_state import AppState
from .database import get_session, utcnow
from .errors import ApiError, TooManyRequests
from .lru import LRUCache
from .tables import LOCAL_TENANT, ApiKey, Tenant, new_id

KEY_PREFIX = "axon_"
KEY_BYTES = 32
SHOWN_PREFIX_LENGTH = 12  # "axon_" and 7 more characters: enough to tell keys apart in a list.
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PROTECTED_PREFIX = "/v1/"
SECURITY_SCHEMES = {"apiKey": {"type": "http", "scheme": "bearer",
                               "description": "An API key from `axon keys create --tenant NAME`."}}
SECURITY = [{"apiKey": []}]
# Live keys one API process remembers; more just means a database read for the ones dropped.
KEY_CACHE_CAPACITY = 10_000

log = logging.getLogger(__name__)


class Unauthorized(ApiError):
    status, title, type = 401, "Unauthorized", "urn:axon:problem:unauthorized"

    def __init__(self, detail: str, error: str | None = None):
        # RFC 6750 §3: say which scheme is expected, and why the credentials given were refused.
        challenge = 'Bearer realm="axon"' + (f', error="{error}"' if error else "")
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


@dataclass(frozen=True)
class IssuedKey:
    id: str
    tenant: str
    key: str  # Shown once; only its hash is stored.


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_tenant_name(tenant: str) -> str:
    if not TENANT_PATTERN.match(tenant):
        raise ValueError(f"a tenant name is 1-64 letters, digits, '_', '.' or '-', starting with a "
                         f"letter or digit: {tenant!r}")
    return tenant


def issue_key(engine: Engine, tenant: str) -> IssuedKey:
    """Make a key for ``tenant`` (creating the tenant if it is new) and store its hash."""
    check_tenant_name(tenant)
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    key_id = new_id()
    ensure_tenant(engine, tenant)
    with engine.begin() as connection:
        connection.execute(ApiKey.__table__.insert().values(
            id=key_id, tenant=tenant, key_hash=hash_key(key), prefix=key[:SHOWN_PREFIX_LENGTH],
            created_at=utcnow()))
    return IssuedKey(key_id, tenant, key)


def create_key(engine: Engine, tenant: str) -> str:
    """A new key for ``tenant``, in plain text (for scripts and tests)."""
    return issue_key(engine, tenant).key


def ensure_tenant(engine: Engine, tenant: str) -> None:
    with engine.connect() as connection:
        if connection.execute(select(Tenant.name).where(Tenant.name == tenant)).first() is not None:
            return
    try:
        with engine.begin() as connection:
            connection.execute(Tenant.__table__.insert().values(name=tenant, created_at=utcnow()))
    except IntegrityError:
        pass  # Made meanwhile by another process: just as good.


def revoke_key(engine: Engine, key_or_id: str) -> bool:
    """Revoke a key given by its id or the key itself; False when no live key matches."""
    with engine.begin() as connection:
        result = connection.execute(
            update(ApiKey.__table__)
            .where(or_(ApiKey.id == key_or_id, ApiKey.key_hash == hash_key(key_or_id)),
                   ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow()))
    return result.rowcount > 0


def list_keys(engine: Engine, tenant: str | None = None) -> list:
    """Every key (revoked ones too), oldest first: id, tenant, prefix, created_at, revoked_at."""
    keys = ApiKey.__table__
    query = select(keys.c.id, keys.c.tenant, keys.c.prefix, keys.c.created_at, keys.c.revoked_at)
    if tenant is not None:
        query = query.where(keys.c.tenant == tenant)
    with engine.connect() as connection:
        return list(connection.execute(query.order_by(keys.c.created_at, keys.c.id)))


class KeyCache:
    """Keys found live in the last ``seconds``, by hash: (key id, tenant). Never unknown or revoked ones."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds, self.clock = seconds, clock
        self._entries = LRUCache(KEY_CACHE_CAPACITY)

    def get(self, key_hash: str) -> tuple[str, str] | None:
        entry = self._entries.get(key_hash)
        if entry is None or self.clock() >= entry[0]:
            return None
        return entry[1], entry[2]

    def put(self, key_hash: str, key_id: str, tenant: str) -> None:
        if self.seconds > 0:
            self._entries.put(key_hash, (self.clock() + self.seconds, key_id, tenant))


class FailureThrottle:
    """Wrong keys per client address (moving window, in this process's memory)."""

    def __init__(self, limit: str):
        self.limit = parse(limit)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._warned: set[str] = set()  # Addresses logged as throttled, once per episode.
        self._lock = threading.Lock()

    def wait(self, address: str) -> float | None:
        """None while ``address`` may try a key; else seconds until it may again."""
        if self._limiter.test(self.limit, address):
            with self._lock:
                self._warned.discard(address)
            return None
        with self._lock:
            first = address not in self._warned
            self._warned.add(address)
        if first:
            log.warning("throttling %s: more than %s wrong API keys", address, self.limit)
        reset_at = self._limiter.get_window_stats(self.limit, address).reset_time
        return max(reset_at - time.time(), 0.0)

    def failed(self, address: str) -> None:
        self._limiter.hit(self.limit, address)


def current_tenant() -> str:
    """The tenant the current /v1 request acts for."""
    return g.tenant


def init_auth(app: Flask, state: AppState) -> None:
    """Check the key of every /v1 request and remember its tenant (and the key, for rate limits)."""
    settings, cache, throttle = state.settings, state.key_cache, state.auth_throttle

    @app.before_request
    def _authenticate():
        if not request.path.startswith(PROTECTED_PREFIX):
            return
        if not settings.auth:
            g.tenant, g.client_id = LOCAL_TENANT, f"address:{request.remote_addr}"
            return
        key_hash = hash_key(bearer_token(request.headers.get("Authorization")))
        found = cache.get(key_hash)
        if found is None:
            address = request.remote_addr or "unknown"
            wait = throttle.wait(address)
            if wait is not None:
                raise TooManyRequests(f"too many wrong API keys from {address} (more than "
                                      f"{settings.auth_failure_limit}); retry in {max(1, math.ceil(wait))} s",
                                      wait)
            found = get_session().execute(
                select(ApiKey.id, ApiKey.tenant).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
            ).first()
            if found is None:
                throttle.failed(address)
                raise Unauthorized("the API key is unknown or revoked", "invalid_token")
            cache.put(key_hash, *found)
        key_id, g.tenant = found
        g.client_id = f"key:{key_id}"


def bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <key>'", "invalid_request")
    return token.strip()
