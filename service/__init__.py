"""Axon's HTTP API: a Flask application factory over the engine in ``mlp``."""

from __future__ import annotations

from typing import Any, Mapping

from flask_openapi3 import Info, OpenAPI

from .database import init_db
from .queue import celery_init_app
from .settings import Settings

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> OpenAPI:
    """Build the app; ``config`` overrides settings fields (tests pass e.g. ``database_url``)."""
    settings = Settings(**dict(config or {}))
    app = OpenAPI(
        __name__,
        info=Info(title="Axon", version=__version__, description="Train multi-layer perceptrons over HTTP."),
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["axon.settings"] = settings
    init_db(app, settings)
    celery_init_app(app, settings)
    return app
