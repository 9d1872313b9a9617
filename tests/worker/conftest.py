"""Fixtures for the worker suite: every test runs on SQLite and on PostgreSQL, without Celery."""

from __future__ import annotations

import pytest

import mlp
from service.app_state import app_state
from service import create_app

from tests.support.databases import postgres_database, sqlite_database


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """One migrated database per backend, shared by the tests; each test makes its own rows."""
    if request.param == "sqlite":
        with sqlite_database(tmp_path_factory.mktemp("worker-sqlite")) as url:
            yield url
    else:
        with postgres_database("axon_worker") as url:
            yield url


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build an app on the test database; keyword arguments override settings."""
    made = []

    def make(**settings):
        app = create_app({"database_url": database_url, "broker_url": "memory://", "home": tmp_path, **settings})
        made.append(app)
        return app

    yield make
    for app in made:
        app_state(app).engine.dispose()


@pytest.fixture
def app(make_app):
    """An app with default settings, its context pushed."""
    app = make_app()
    with app.app_context():
        yield app


@pytest.fixture
def engine(app):
    return app_state(app).engine


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def hook_epochs(monkeypatch):
    """Run test code around the worker's epoch callback: ``hook_epochs(before=f, after=g)``.

    ``f(record)`` runs before the worker persists an epoch, ``g(record)`` after; either may raise
    to simulate a crash at that point. Installing again replaces the earlier hooks.
    """
    real_fit = mlp.fit

    def install(before=None, after=None):
        def fit(*args, callback, **kwargs):
            def hooked(record, checkpoint):
                if before is not None:
                    before(record)
                stop = callback(record, checkpoint)
                if after is not None:
                    after(record)
                return stop

            return real_fit(*args, callback=hooked, **kwargs)

        monkeypatch.setattr(mlp, "fit", fit)

    return install
