"""What one app holds beside Flask's own: one typed object, made in ``create_app``, and its accessor.

Everything a request, a worker task or a test reaches through the app is a field here, made when
the app is made (none on first use), so a reader finds in one place what an app owns and a type
checker knows what each is.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import sessionmaker

    from .auth import FailureThrottle, KeyCache
    from .lru import LRUCache
    from .metrics import JobCollector
    from .ratelimit import RateLimiter
    from .settings import Settings

EXTENSION = "axon"  # The one key of app.extensions that holds the state.


@dataclass(frozen=True)
class AppState:
    """One app's settings, database handles, caches and limiters."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker  # For code that manages its own transactions (event streams, the worker).
    model_cache: LRUCache  # Predict's loaded models: (tenant, mlp.Model) by model id.
    boundary_cache: LRUCache  # Decision-boundary answers (JSON text) by (job, source, epoch, resolution).
    network_cache: LRUCache  # Network-view answers (JSON text) by (job, source, epoch, resolution, grids).
    stream_slots: threading.BoundedSemaphore | None  # One per open event stream; None: streams off.
    key_cache: KeyCache  # API keys found live recently, by hash.
    auth_throttle: FailureThrottle  # Wrong keys per client address.
    rate_limiter: RateLimiter  # Requests per key.
    job_collector: JobCollector  # The job series of /metrics, read from the database at scrape time.


def init_app_state(app: Flask, state: AppState) -> None:
    app.extensions[EXTENSION] = state


def app_state(app: Flask | None = None) -> AppState:
    """The state of ``app``, by default the current app."""
    return (current_app if app is None else app).extensions[EXTENSION]
