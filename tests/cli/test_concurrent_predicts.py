"""Concurrent predicts over HTTP get the answers sequential ones get, under ``axon api``'s threads.

One model is cached in the API process and shared by every request thread; a forward pass that
kept its activations in the network's own buffers mixed the threads' rows (131 of 360 answers
wrong in a probe). Each request's answer here must equal, exactly, the one the same rows got
when sent alone before the load.
"""

from __future__ import annotations

import json
import threading

import httpx
import numpy as np

import migrations
from mlp import NetworkSpec, fit
from service.app_state import app_state
from service import create_app
from service.auth import create_key
from service.tables import LOCAL_TENANT
from tests.support.rows import insert_model

from tests.support.processes import AXON, clean_env, free_port, started_server

N_THREADS = 12
ROUNDS = 30  # Requests per thread.
WIDE_SPEC = {"layers": [{"units": 64, "activation": "tanh"}, {"units": 64, "activation": "gelu"}],
             "epochs": 3, "batch_size": 32, "device": "cpu"}


def test_concurrent_predicts_answer_as_sequential_ones(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'axon.db'}"
    migrations.upgrade(database_url)
    app = create_app({"database_url": database_url, "broker_url": "memory://"})
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 2))
    model = insert_model(app, fit(NetworkSpec.model_validate(WIDE_SPEC), features, (features[:, 0] * features[:, 1] > 0)
                                  .astype(int)))
    headers = {"Authorization": f"Bearer {create_key(app_state(app).engine, LOCAL_TENANT)}"}
    app_state(app).engine.dispose()
    # Batches of 1 to 400 rows: threads overlap inside one another's forward passes.
    bodies = [json.dumps({"inputs": rng.normal(size=(int(size), 2)).round(6).tolist()})
              for size in rng.integers(1, 401, size=24)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(AXON_DATABASE_URL=database_url, AXON_BROKER_URL="memory://", AXON_HOME=str(tmp_path))
    argv = [*AXON, "api", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    path = f"{url}/v1/models/{model.id}/predict"
    post_headers = {**headers, "Content-Type": "application/json"}
    with started_server(argv, env, url, tmp_path / "api.log"):
        with httpx.Client(headers=post_headers, timeout=60) as client:
            expected = [client.post(path, content=body).json() for body in bodies]
        assert all("probabilities" in answer for answer in expected), expected[0]
        answers: list[tuple[int, int, dict]] = []

        def predict_many(thread: int) -> None:
            with httpx.Client(headers=post_headers, timeout=60) as client:
                for round_ in range(ROUNDS):
                    index = (thread * 5 + round_) % len(bodies)
                    response = client.post(path, content=bodies[index])
                    answers.append((index, response.status_code, response.json()))

        threads = [threading.Thread(target=predict_many, args=(thread,)) for thread in range(N_THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(answers) == N_THREADS * ROUNDS
    assert [status for _, status, _ in answers] == [200] * len(answers)
    wrong = [index for index, _, answer in answers if answer != expected[index]]
    assert wrong == [], f"{len(wrong)} of {len(answers)} concurrent answers differ from the sequential ones"
