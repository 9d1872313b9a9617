"""``axon api`` with two processes on one port: both serve predicts, and /metrics counts every
process's predicts."""

from __future__ import annotations

import json
import re

import httpx
import numpy as np
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

import migrations
from mlp import NetworkSpec, fit
from service.app_state import app_state
from service import create_app
from service.auth import create_key
from service.tables import LOCAL_TENANT
from tests.support.rows import insert_model
from tests.support.specs import SMALL_SPEC

from tests.support.processes import AXON, clean_env, free_port, started_server

N_PREDICTS = 24
MORE_ROUNDS = 4  # Rounds of N_PREDICTS more while one process has taken every connection.


def predict_count(url: str) -> float:
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text)
    return next(sample.value for family in families for sample in family.samples
                if sample.name == "axon_predict_seconds_count")


def predicts_by_pid(folder) -> dict[int, float]:
    """Each process's own predict count, from the file prometheus_client keeps for it in ``folder``
    (multiprocess mode: ``histogram_<pid>.db``, one count per bucket)."""
    counts = {}
    for path in folder.glob("histogram_*.db"):
        pid = int(re.fullmatch(r"histogram_(\d+)\.db", path.name).group(1))
        counts[pid] = sum(value for key, value, *_ in MmapedDict.read_all_values_from_file(str(path))
                          if json.loads(key)[1] == "axon_predict_seconds_bucket")
    return counts


def test_both_api_processes_serve_predicts_and_metrics_add_them_up(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'axon.db'}"
    migrations.upgrade(database_url)
    app = create_app({"database_url": database_url, "broker_url": "memory://"})
    features = np.random.default_rng(0).normal(size=(60, 2))
    model = insert_model(app, fit(NetworkSpec.model_validate(SMALL_SPEC), features, (features[:, 0] > 0).astype(int)))
    headers = {"Authorization": f"Bearer {create_key(app_state(app).engine, LOCAL_TENANT)}"}
    app_state(app).engine.dispose()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(AXON_DATABASE_URL=database_url, AXON_BROKER_URL="memory://", AXON_HOME=str(tmp_path))
    metrics_folder = tmp_path / "metrics"
    metrics_folder.mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_folder)
    argv = [*AXON, "api", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    log_path, path = tmp_path / "api.log", f"/v1/models/{model.id}/predict"
    with started_server(argv, env, url, log_path) as process:
        sent = 0
        for _ in range(1 + MORE_ROUNDS):
            for _ in range(N_PREDICTS):  # A new connection each: the two processes take turns accepting.
                response = httpx.post(f"{url}{path}", json={"inputs": [[0.5, -0.5]]}, headers=headers, timeout=10)
                assert response.status_code == 200, response.text
            sent += N_PREDICTS
            counts = predicts_by_pid(metrics_folder)
            if sum(1 for count in counts.values() if count) > 1:
                break

        # Two API processes answered, every predict counted once, none by the supervisor.
        served = {pid: count for pid, count in counts.items() if count}
        assert len(served) == 2 and sum(served.values()) == sent, counts
        assert process.pid not in served
        # Whichever process answers the scrape, it reports every process's predicts.
        assert [predict_count(url) for _ in range(6)] == [sent] * 6
