"""/healthz (the process answers) and /readyz (the database and the broker answer too)."""

from __future__ import annotations

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import text

from ..app_state import app_state
from ..errors import NotReady, problem_docs
from ..http import json_response
from ..schemas import Health

blueprint = APIBlueprint("health", __name__, abp_tags=[Tag(name="health")], abp_responses=problem_docs(500))

# Seconds a readiness probe may wait on the broker; probes run often and must not pile up.
BROKER_TIMEOUT = 2.0


@blueprint.get("/healthz", responses={200: Health})
def healthz():
    """200 while the process is up; checks nothing else."""
    return json_response(Health())


@blueprint.get("/readyz", responses={200: Health, **problem_docs(503)})
def readyz():
    """200 when the database answers ``SELECT 1`` and the broker accepts a connection, else 503 naming which failed."""
    return json_response(Health(checks=check_dependencies()))


def check_dependencies() -> dict[str, str]:
    failures = {name: error for name, error in (("database", _database_error()), ("broker", _broker_error())) if error}
    if failures:
        raise NotReady(
            f"not ready: {', '.join(failures)} unreachable",
            [{"component": name, "detail": error} for name, error in failures.items()],
        )
    return {"database": "ok", "broker": "ok"}


def _database_error() -> str | None:
    try:
        with app_state().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # Any driver error means the same thing here: not reachable.
        return f"{type(error).__name__}: {error}"
    return None


def _broker_error() -> str | None:
    celery_app = current_app.extensions["celery"]
    try:
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT)
    except Exception as error:  # kombu raises several types for "broker unreachable".
        return f"{type(error).__name__}: {error}"
    return None
