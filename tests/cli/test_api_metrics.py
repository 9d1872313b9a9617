"""``axon api`` under gunicorn with two worker processes: both serve predicts, and /metrics counts
every process's predicts."""

from __future__ import annotations

import re
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

from .processes import AXON, clean_env, free_port, log_tail, started_server

N_PREDICTS = 24
MORE_ROUNDS = 4  # Rounds of N_PREDICTS more while one process has taken every connection.
# gunicorn's access log as the test asks for it: "<pid> path", one line a request.
ACCESS_FORMAT = "%(p)s %(U)s"


def predict_count(url: str) -> float:
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text)
    return next(sample.value for family in families for sample in family.samples
                if sample.name == "axon_predict_seconds_count")


def predict_pids(log_path, path: str, expected: int) -> list[int]:
    """The pid of each access line for ``path``, once all ``expected`` are written (gunicorn logs
    a request just after answering it, so the last may lag the client by a moment)."""
    line = re.compile(rf"^<(\d+)> {re.escape(path)}$", flags=re.MULTILINE)
    deadline = time.monotonic() + 10
    while len(pids := [int(pid) for pid in line.findall(log_path.read_text())]) < expected:
        assert time.monotonic() < deadline, f"{len(pids)} of {expected} access lines:\n{log_tail(log_path)}"
        time.sleep(0.1)
    return pids


def test_both_gunicorn_workers_serve_predicts_and_metrics_add_them_up(tmp_path):
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
    argv = [*AXON, "api", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
            "--", "--access-logfile", "-", "--access-logformat", ACCESS_FORMAT]
    log_path, path = tmp_path / "api.log", f"/v1/models/{model.id}/predict"
    with started_server(argv, env, url, log_path) as process:
        sent = 0
        for _ in range(1 + MORE_ROUNDS):
            for _ in range(N_PREDICTS):  # A new connection each: the two processes take turns accepting.
                response = httpx.post(f"{url}{path}", json={"inputs": [[0.5, -0.5]]}, headers=headers, timeout=10)
                assert response.status_code == 200, response.text
            sent += N_PREDICTS
            pids = predict_pids(log_path, path, sent)
            if len(set(pids)) > 1:
                break

        # Two worker processes answered, neither of them gunicorn's master (``axon api`` exec'd it).
        assert len(pids) == sent and len(set(pids)) == 2, pids
        assert process.pid not in pids
        # Whichever process answers the scrape, it reports every process's predicts.
        assert [predict_count(url) for _ in range(6)] == [sent] * 6
