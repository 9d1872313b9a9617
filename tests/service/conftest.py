"""An app per test on its own SQLite file (schema from the migrations), and rows the worker would write."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from flask.testing import FlaskClient

import migrations
from mlp import NetworkSpec, fit
from mlp.playground_data import GeneratorSpec, generate
from service.app_state import app_state
from service import create_app
from service.auth import create_key
from service.tables import LOCAL_TENANT

from tests.support.specs import SMALL_SPEC


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory):
    """A database file the migrations built once; each test gets a copy, which is much faster."""
    path = tmp_path_factory.mktemp("template") / "axon.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


class KeyedClient(FlaskClient):
    """A test client that sends the app's test API key (for tenant "local", where tests.support.rows
    put their rows); a test about keys removes it or sends another."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        key = self.application.config.get("AXON_TEST_KEY")
        if key is not None:
            self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"


@pytest.fixture
def make_app(tmp_path, migrated_database):
    """Build an app on a fresh database, with an API key its test clients send; keyword arguments override settings."""

    def build(**overrides):
        """Keyword arguments override settings; with another ``database_url``, the app has no test key."""
        path = tmp_path / f"axon-{len(list(tmp_path.iterdir()))}.db"
        shutil.copy(migrated_database, path)
        config = {"database_url": f"sqlite:///{path}", "broker_url": "memory://", **overrides}
        app = create_app(config)
        app.config["TESTING"] = True
        if "database_url" not in overrides:
            app.config["AXON_TEST_KEY"] = create_key(app_state(app).engine, LOCAL_TENANT)
        app.test_client_class = KeyedClient
        return app

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def blobs():
    """Three gaussian classes with string labels: (features (150, 3), labels (150,))."""
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0, 0], [4, 4, 0], [0, 4, 4]], dtype=float)
    labels = np.repeat(np.array(["cat", "dog", "eel"]), 50)
    return centres[np.repeat(np.arange(3), 50)] + rng.normal(size=(150, 3)), labels


@pytest.fixture(scope="session")
def classifier(blobs):
    """A small trained 3-class model (``mlp.FitResult``)."""
    features, labels = blobs
    spec = NetworkSpec.model_validate({**SMALL_SPEC, "epochs": 20, "optimizer": {"name": "adam", "learning_rate": 0.05}})
    return fit(spec, features, labels)


@pytest.fixture(scope="session")
def regressor():
    """A small trained regression model on the playground plane."""
    data = generate(GeneratorSpec(kind="plane", n_samples=120, seed=2))
    return fit(NetworkSpec.model_validate(SMALL_SPEC), data.features, data.targets)
