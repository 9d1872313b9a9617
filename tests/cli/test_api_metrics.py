"""``axon api`` under gunicorn with two worker processes: /metrics counts every process's predicts."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

import migrations
from mlp import NetworkSpec, fit
from service import create_app
from service.auth import create_key
from service.models import LOCAL_TENANT
from tests.service.factories import SMALL_SPEC, insert_model

from .processes import AXON, clean_env, free_port

N_PREDICTS = 24


def predict_count(url: str) -> float:
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text)
    return next(sample.value for family in families for sample in family.samples
                if sample.name == "axon_predict_seconds_count")


def test_metrics_add_up_the_predicts_of_every_gunicorn_worker(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'axon.db'}"
    migrations.upgrade(database_url)
    app = create_app({"database_url": database_url, "broker_url": "memory://"})
    features = np.random.default_rng(0).normal(size=(60, 2))
    model = insert_model(app, fit(NetworkSpec.model_validate(SMALL_SPEC), features, (features[:, 0] > 0).astype(int)))
    headers = {"Authorization": f"Bearer {create_key(app.extensions['axon.engine'], LOCAL_TENANT)}"}
    app.extensions["axon.engine"].dispose()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(AXON_DATABASE_URL=database_url, AXON_BROKER_URL="memory://", AXON_HOME=str(tmp_path))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with open(tmp_path / "api.log", "w") as log:
        process = subprocess.Popen([*AXON, "api", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
                                    "--threads", "1"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "api.log").read_text()
            time.sleep(0.2)

        for _ in range(N_PREDICTS):  # A new connection each: the two processes take turns accepting.
            response = httpx.post(f"{url}/v1/models/{model.id}/predict", json={"inputs": [[0.5, -0.5]]},
                                  headers=headers, timeout=10)
            assert response.status_code == 200, response.text

        # Whichever process answers the scrape, it reports every process's predicts.
        assert [predict_count(url) for _ in range(6)] == [N_PREDICTS] * 6
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
