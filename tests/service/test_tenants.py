"""Tenants: another tenant's dataset, job or model answers 404 on every route, and lists show one's own."""

from __future__ import annotations

import pytest

from service.app_state import app_state
from service.auth import create_key

from tests.support.calls import spiral_dataset, submit_job
from tests.support.rows import insert_model

from .test_auth import with_key


@pytest.fixture
def owned(app, client, classifier):
    """Ids of a dataset, a queued job, a model (with its succeeded job) and a sweep of tenant "local"."""
    dataset = spiral_dataset(client)
    job = submit_job(client, dataset["id"])
    model = insert_model(app, classifier)
    sweep = client.post("/v1/sweeps", json={
        "dataset_id": dataset["id"], "spec": {"layers": [{"units": 4}], "epochs": 2}, "n_trials": 2,
        "space": {"/optimizer/learning_rate": {"type": "choice", "values": [0.01, 0.1]}}})
    assert sweep.status_code == 202, sweep.get_json()
    return {"dataset_id": dataset["id"], "job_id": job["id"], "model_id": model.id, "sweep_id": sweep.get_json()["id"]}


@pytest.fixture
def intruder(app):
    """A client with a key of tenant "intruder"."""
    return with_key(app, create_key(app_state(app).engine, "intruder"))


def test_every_route_with_an_id_answers_404_to_another_tenant(client, owned, intruder):
    document = client.get("/openapi.json").get_json()
    routes = [(method, path) for path, item in document["paths"].items() for method in item if "{" in path]
    assert len(routes) >= 10  # Every route that takes an id, today and whatever is added later.
    for method, path in routes:
        url = path.format(**owned)
        body = {"inputs": [[0.0, 0.0]]} if url.endswith("/predict") else None
        response = intruder.open(url, method=method.upper(), json=body)
        assert response.status_code == 404, (method, url, response.get_data(as_text=True))
        assert response.mimetype == "application/problem+json"
        # The owner still sees it, so the 404 is the tenant check's doing.
        if method == "get" and not url.endswith("/events"):
            assert client.get(url).status_code in (200, 409), url


def test_another_tenants_dataset_cannot_be_trained_on(owned, intruder):
    response = intruder.post("/v1/jobs", json={"dataset_id": owned["dataset_id"], "spec": {
        "layers": [{"units": 4}], "epochs": 1}})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["pointer"] == "/dataset_id"


def test_lists_show_only_ones_own(client, owned, intruder):
    assert intruder.get("/v1/datasets").get_json()["items"] == []
    assert intruder.get("/v1/jobs").get_json()["items"] == []
    theirs = spiral_dataset(intruder)
    assert [item["id"] for item in intruder.get("/v1/datasets").get_json()["items"]] == [theirs["id"]]
    assert theirs["id"] not in {item["id"] for item in client.get("/v1/datasets").get_json()["items"]}
    assert owned["dataset_id"] in {item["id"] for item in client.get("/v1/datasets").get_json()["items"]}


def test_a_cached_model_is_still_scoped_to_its_tenant(client, owned, intruder):
    predict = f"/v1/models/{owned['model_id']}/predict"
    assert client.post(predict, json={"inputs": [[0.0, 0.0, 0.0]]}).status_code == 200  # Now cached.
    assert intruder.post(predict, json={"inputs": [[0.0, 0.0, 0.0]]}).status_code == 404


def test_another_tenant_cannot_delete_or_cancel(client, owned, intruder):
    assert intruder.delete(f"/v1/datasets/{owned['dataset_id']}").status_code == 404
    assert intruder.post(f"/v1/jobs/{owned['job_id']}/cancel").status_code == 404
    assert client.get(f"/v1/jobs/{owned['job_id']}").get_json()["status"] == "queued"
    assert client.get(f"/v1/datasets/{owned['dataset_id']}").status_code == 200
