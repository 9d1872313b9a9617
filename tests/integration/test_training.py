"""End to end over real services: HTTP in, Redis between, a Celery worker training into PostgreSQL."""

from __future__ import annotations

import time

import numpy as np
import redis
from sqlalchemy import insert

import mlp
from mlp.playground_data import GeneratorSpec, generate
from service.app_state import app_state
from service.database import utcnow
from service.tables import LOCAL_TENANT, Job, new_id
from service.queue import TRAINING_QUEUE, publish_job

SPIRAL = {"kind": "spiral", "n_samples": 300, "noise": 0.1, "seed": 1}
SPEC = {
    "layers": [{"units": 16, "activation": "tanh"}, {"units": 16, "activation": "tanh"}],
    "epochs": 60,
    "batch_size": 10,
    "optimizer": {"name": "adam", "learning_rate": 0.03},
    "device": "cpu",
    "seed": 2,
}


def wait_for(api, job_id: str, statuses: set[str], timeout: float = 60) -> dict:
    """Poll the job until its status is one of ``statuses``; returns the job."""
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after {timeout} s: {job}"
        time.sleep(0.1)


def create_dataset(api, **generator) -> str:
    response = api.post("/v1/datasets", json={"name": "spiral", "generator": {**SPIRAL, **generator}})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def submit(api, dataset_id: str, **spec) -> dict:
    response = api.post("/v1/jobs", json={"dataset_id": dataset_id, "spec": {**SPEC, **spec}})
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/v1/jobs/{response.json()['id']}"
    return response.json()


def all_metrics(api, job_id: str) -> list[dict]:
    items, path = [], f"/v1/jobs/{job_id}/metrics"
    while path:
        page = api.get(path).json()
        items += page["items"]
        path = page["next"]
    return items


def test_a_spiral_job_trains_over_http_and_predicts(api):
    job = submit(api, create_dataset(api))
    assert job["status"] in {"queued", "running"}

    job = wait_for(api, job["id"], {"succeeded", "failed", "cancelled"})

    assert job["status"] == "succeeded", job
    assert (job["epoch"], job["progress"], job["attempts"], job["error"]) == (60, 1, 1, None)
    assert job["train_seconds"] > 0 and job["started_at"] <= job["finished_at"]
    metrics = all_metrics(api, job["id"])
    assert [record["epoch"] for record in metrics] == list(range(1, 61))
    assert metrics[-1] == job["metrics"]
    model = api.get(f"/v1/models/{job['model_id']}").json()
    assert (model["job_id"], model["n_features"], model["classes"]) == (job["id"], 2, [0, 1])
    spiral = generate(GeneratorSpec(**SPIRAL))
    response = api.post(f"/v1/models/{job['model_id']}/predict", json={"inputs": spiral.features.tolist()})
    assert response.status_code == 200, response.text
    predictions = np.array(response.json()["predictions"])
    # The service adds nothing to training: the engine run here on the same data agrees exactly.
    local = mlp.fit(mlp.NetworkSpec.model_validate(SPEC), spiral.features, spiral.targets)
    assert np.array_equal(predictions, local.model.predict(spiral.features).predictions)
    assert np.mean(predictions == spiral.targets) > 0.6  # Better than chance on the two arms.


def test_cancelling_a_long_job_stops_it_at_an_epoch_boundary(api):
    job = submit(api, create_dataset(api, n_samples=60), epochs=100_000, batch_size=60)
    deadline = time.monotonic() + 60
    while (job := api.get(f"/v1/jobs/{job['id']}").json())["epoch"] < 3:
        assert time.monotonic() < deadline, f"the job did not get going: {job}"
        time.sleep(0.05)

    response = api.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 202, response.text
    # Epochs here take about a millisecond: the worker may finish the cancel before the API
    # re-reads the row for its answer.
    assert response.json()["status"] in {"cancelling", "cancelled"}
    job = wait_for(api, job["id"], {"cancelled", "succeeded", "failed"}, timeout=30)

    assert job["status"] == "cancelled" and job["finished_at"] is not None
    assert 3 <= job["epoch"] < 100_000 and job["model_id"] is None
    assert [record["epoch"] for record in all_metrics(api, job["id"])] == list(range(1, job["epoch"] + 1))
    assert api.post(f"/v1/jobs/{job['id']}/cancel").status_code == 409


def test_a_job_nobody_published_is_found_by_the_workers_reconciler(api, api_app):
    dataset_id = create_dataset(api, n_samples=60)
    job_id = new_id()
    # As if the broker had been down when the job was submitted: a committed row, no message.
    with app_state(api_app).engine.begin() as connection:
        connection.execute(insert(Job.__table__).values(
            id=job_id, tenant=LOCAL_TENANT, dataset_id=dataset_id, spec={**SPEC, "epochs": 3}, epochs=3,
            created_at=utcnow()))

    job = wait_for(api, job_id, {"succeeded", "failed", "cancelled"}, timeout=30)

    assert job["status"] == "succeeded" and job["attempts"] == 1


def test_a_message_for_an_unknown_job_is_acknowledged_and_dropped(api, api_app, worker, redis_url):
    unknown_id = new_id()
    with api_app.app_context():
        assert publish_job(unknown_id)
    # The worker takes one message at a time, in order: once this job is done, so is that message.
    job = wait_for(api, submit(api, create_dataset(api, n_samples=60), epochs=2)["id"], {"succeeded", "failed"})

    assert job["status"] == "succeeded"
    assert f"job {unknown_id} does not exist; message dropped" in worker.log()
    broker = redis.Redis.from_url(redis_url)

    def still_held() -> bool:
        # Only this test's message: a worker another test killed may have left its own unacked.
        waiting = broker.lrange(TRAINING_QUEUE, 0, -1) + list(broker.hvals("unacked"))
        return any(unknown_id.encode() in message for message in waiting)

    deadline = time.monotonic() + 10
    while still_held() and time.monotonic() < deadline:  # The ack follows the task's return.
        time.sleep(0.05)
    assert not still_held()
