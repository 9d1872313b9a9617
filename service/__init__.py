"""Axon's HTTP API: a Flask application factory over the engine in ``mlp``."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from .openapi import AxonOpenAPI

__version__ = "0.1.0"

DOCS_PREFIX = "/docs"


def create_app(config: Mapping[str, Any] | None = None) -> AxonOpenAPI:
    """Build the app; ``config`` overrides settings fields (tests pass e.g. ``database_url``)."""
    # Imported here: the blueprints build their OpenAPI schemas on import, which costs seconds,
    # and `axon db upgrade`, `axon settings` or the worker's settings need none of it; and the
    # server's commands (service.commands) load with the client's `axon`, without Flask installed.
    from flask import redirect
    from flask_openapi3 import Info

    from .api import (boundary, dashboard, datasets, events, health, jobs, models, network_view, playground,
                      sweep_events, sweeps)
    from .app_state import AppState, init_app_state
    from .auth import SECURITY_SCHEMES, FailureThrottle, KeyCache, init_auth
    from .database import close_request_session, init_db, make_engine, make_session_factory
    from .disk import init_disk
    from .errors import Problem, parameter_validation_callback, register_error_handlers
    from .http import init_bodies
    from .lru import LRUCache
    from .metrics import JobCollector
    from .observability import init_observability
    from .openapi import AxonOpenAPI
    from .queue import celery_init_app
    from .ratelimit import RateLimiter, init_rate_limit
    from .settings import Settings

    settings = Settings(**dict(config or {}))
    engine = make_engine(settings.resolved_database_url)
    state = AppState(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        model_cache=LRUCache(settings.predict_cache_size),
        boundary_cache=LRUCache(boundary.CACHE_SIZE),
        network_cache=LRUCache(network_view.CACHE_SIZE),
        stream_slots=threading.BoundedSemaphore(settings.max_event_streams) if settings.max_event_streams else None,
        key_cache=KeyCache(settings.key_cache_seconds),
        auth_throttle=FailureThrottle(settings.auth_failure_limit),
        rate_limiter=RateLimiter(settings.rate_limit, settings.resolved_rate_limit_storage_url),
        job_collector=JobCollector(engine, settings.resolved_broker_url),
    )
    app = AxonOpenAPI(
        __name__,
        info=Info(title="Axon", version=__version__, description="Train multi-layer perceptrons over HTTP."),
        doc_prefix=DOCS_PREFIX,
        validation_error_callback=parameter_validation_callback,
        # Registers Problem in the document's components, where every error response refers to it.
        validation_error_model=Problem,
        # flask-openapi3 adds a JSON "validation error" response to each operation that lacks one
        # with this status. Every operation documents 500 as problem+json, so it adds none, and
        # each route lists the 422 it can really answer.
        validation_error_status=500,
        security_schemes=SECURITY_SCHEMES,
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    init_app_state(app, state)
    init_db(app)
    celery_init_app(app, settings)
    init_observability(app, settings)
    # In this order: a request's key is checked before it counts against that key's rate limit.
    init_auth(app, state)
    init_rate_limit(app, state)
    init_bodies(app)  # After both: a body is read only for a request that may go on.
    register_error_handlers(app)
    for module in (datasets, jobs, events, boundary, network_view, playground, models, sweeps, sweep_events, health):
        app.register_api(module.blueprint)
    app.register_blueprint(dashboard.blueprint)  # Plain Flask: the HTML pages stay out of the OpenAPI document.
    app.add_url_rule("/openapi.json", "openapi_document", lambda: app.api_doc)
    init_disk(app, settings)  # After the blueprints: it looks up the routes that add data.
    # Registered last, so it runs first of the after-request hooks: before the access line.
    app.after_request(close_request_session)
    app.add_url_rule(DOCS_PREFIX, "docs", lambda: redirect(f"{DOCS_PREFIX}/swagger"))
    return app
