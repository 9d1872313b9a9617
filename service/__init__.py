"""Axon's HTTP API: a Flask application factory over the engine in ``mlp``."""

from __future__ import annotations

from typing import Any, Mapping

from flask import redirect
from flask_openapi3 import Info

from .database import close_request_session, init_db
from .openapi import AxonOpenAPI
from .queue import celery_init_app
from .settings import Settings

__version__ = "0.1.0"

DOCS_PREFIX = "/docs"


def create_app(config: Mapping[str, Any] | None = None) -> AxonOpenAPI:
    """Build the app; ``config`` overrides settings fields (tests pass e.g. ``database_url``)."""
    # Imported here: the blueprints build their OpenAPI schemas on import, which costs seconds,
    # and `axon db upgrade`, `axon settings` or the worker's settings need none of it.
    from . import datasets, health, jobs, models_api
    from . import events  # Adds GET /v1/jobs/{job_id}/events to the jobs blueprint.
    from . import boundary  # noqa: F401  Adds GET /v1/jobs/{job_id}/boundary to the jobs blueprint.
    from . import network_view, playground_api  # noqa: F401  Add /network, /playground, /from-playground.
    from . import dashboard
    from . import sweeps_api
    from . import sweep_events  # noqa: F401  Adds GET /v1/sweeps/{sweep_id}/events to the sweeps blueprint.
    from .auth import SECURITY_SCHEMES, init_auth
    from .errors import Problem, parameter_validation_callback, register_error_handlers
    from .disk import init_disk
    from .http import init_bodies
    from .observability import init_observability
    from .predict import init_predict
    from .ratelimit import init_rate_limit

    settings = Settings(**dict(config or {}))
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
    app.extensions["axon.settings"] = settings
    init_db(app, settings)
    celery_init_app(app, settings)
    init_predict(app, settings.predict_cache_size)
    events.init_events(app, settings.max_event_streams)
    init_observability(app, settings)
    # In this order: a request's key is checked before it counts against that key's rate limit.
    init_auth(app, settings)
    init_rate_limit(app, settings)
    init_bodies(app)  # After both: a body is read only for a request that may go on.
    register_error_handlers(app)
    for module in (datasets, jobs, models_api, sweeps_api, health):
        app.register_api(module.blueprint)
    app.register_blueprint(dashboard.blueprint)  # Plain Flask: the HTML pages stay out of the OpenAPI document.
    app.add_url_rule("/openapi.json", "openapi_document", lambda: app.api_doc)
    init_disk(app, settings)  # After the blueprints: it looks up the routes that add data.
    # Registered last, so it runs first of the after-request hooks: before the access line.
    app.after_request(close_request_session)
    app.add_url_rule(DOCS_PREFIX, "docs", lambda: redirect(f"{DOCS_PREFIX}/swagger"))
    return app
