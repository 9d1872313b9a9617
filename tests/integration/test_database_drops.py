"""A PostgreSQL connection dropped after the view ran, as the request's session is closed, is a
problem+json 503 with its access line and a warning, not the server's bare 500."""

from __future__ import annotations

import logging

import psycopg
import pytest
from flask import g
from sqlalchemy import text

from service.app_state import app_state
from service import create_app
from tests.support.databases import POSTGRES_ADMIN_URL, postgres_database


@pytest.fixture
def app():
    with postgres_database("axon_drops") as url:
        app = create_app({"database_url": url, "broker_url": "memory://", "auth": False})
        yield app
        app_state(app).engine.dispose()


def drop_the_connection_after_the_view(app) -> list[int]:
    """After each view, terminate the server process behind the request's session (as a
    PostgreSQL restart or a proxy timeout would); the pids terminated."""
    terminated = []

    @app.after_request  # Registered after the app's own hooks, so it runs before them.
    def _terminate(response):
        session = g.get("axon_session")
        if session is not None:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            terminated.append(pid)
        return response

    return terminated


def test_a_connection_dropped_before_the_session_closes_is_a_503_problem_and_logged(app, caplog):
    terminated = drop_the_connection_after_the_view(app)
    caplog.set_level(logging.INFO)

    response = app.test_client().get("/v1/jobs")

    assert terminated, "the view read nothing"
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "5" and response.headers["X-Request-ID"]
    assert response.get_json()["errors"] == [{"component": "database", "detail": "unavailable"}]
    [access] = [record for record in caplog.records if record.name == "axon.access"]
    assert access.status == 503
    assert any(record.levelname == "WARNING" and "connection lost" in record.getMessage()
               for record in caplog.records if record.name == "service.database")
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def test_the_next_request_finds_a_fresh_connection(app):
    drop_the_connection_after_the_view(app)
    client = app.test_client()
    assert client.get("/v1/jobs").status_code == 503
    app.after_request_funcs[None].pop()  # The database stays up from here on.
    assert client.get("/v1/jobs").status_code == 200
