"""Training memory is bounded at submission: the footprint estimate, max_training_bytes, and dry_run."""

from __future__ import annotations

import numpy as np

from mlp import NetworkSpec, bind_spec
from mlp.footprint import estimate_footprint
from mlp.spec import DataShape
from service.tables import LOCAL_TENANT, Dataset
from service.storage import encode_arrays

from tests.support.calls import spiral_dataset
from tests.support.rows import add_rows
from tests.support.specs import SMALL_SPEC

ISSUE_SPEC = {"layers": [{"units": 780, "activation": "relu"}] * 32, "batch_size": 65536, "epochs": 10}


def mnist_shaped_dataset(app) -> Dataset:
    """A dataset row the shape of MNIST (70,000 x 784, 10 classes); the check reads only its shape."""
    blob, checksum = encode_arrays(np.zeros((1, 784)), np.zeros(1, np.int64))
    dataset = Dataset(tenant=LOCAL_TENANT, name="mnist", task="classification", n_samples=70_000, n_features=784,
                      classes=list(range(10)), feature_names=None, dtype="float64", checksum=checksum, data=blob)
    add_rows(app, dataset)
    return dataset


def job_count(client) -> int:
    return len(client.get("/v1/jobs").get_json()["items"])


def test_the_issue_spec_is_refused_naming_the_fields_and_the_estimate(client, app):
    dataset = mnist_shaped_dataset(app)
    response = client.post("/v1/jobs", json={"dataset_id": dataset.id, "spec": ISSUE_SPEC})
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]
    assert [error["pointer"] for error in errors][:3] == ["/spec", "/spec/batch_size", "/spec/layers"]
    assert "max_training_bytes" in errors[0]["detail"] and "MiB" in errors[0]["detail"]
    assert job_count(client) == 0


def test_the_same_layers_with_small_batches_fit(client, app):
    dataset = mnist_shaped_dataset(app)
    response = client.post("/v1/jobs", json={"dataset_id": dataset.id, "spec": {**ISSUE_SPEC, "batch_size": 256}})
    assert response.status_code == 202, response.get_json()


def test_the_limit_is_a_setting(make_app):
    app = make_app(max_training_bytes=1_000)
    client = app.test_client()
    dataset = spiral_dataset(client)
    refused = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": SMALL_SPEC})
    assert refused.status_code == 422
    assert "over 1000 bytes (limit max_training_bytes)" in refused.get_json()["errors"][0]["detail"]


def test_dry_run_answers_the_engine_estimate_and_queues_nothing(client, app):
    dataset = mnist_shaped_dataset(app)
    response = client.post("/v1/jobs", json={"dataset_id": dataset.id, "spec": ISSUE_SPEC, "dry_run": True})
    assert response.status_code == 200, response.get_json()
    shape = DataShape("classification", 784, 10)
    expected = estimate_footprint(bind_spec(NetworkSpec.model_validate(ISSUE_SPEC), shape), shape, 70_000)
    body = response.get_json()
    assert {name: body[name] for name in expected.model_dump()} == expected.model_dump()
    assert body["parameters"] == 784 * 780 + 780 + 31 * (780 * 780 + 780) + 780 * 10 + 10
    assert (body["max_training_bytes"], body["within_limit"]) == (4 * 2**30, False)
    assert job_count(client) == 0


def test_dry_run_still_checks_the_spec_against_the_dataset(client):
    dataset = spiral_dataset(client)
    response = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "dry_run": True,
                                             "spec": {**SMALL_SPEC, "loss": "mse"}})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["pointer"] == "/spec/loss"
    fits = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": SMALL_SPEC, "dry_run": True})
    assert fits.get_json()["within_limit"] is True


def test_openapi_documents_dry_run_and_the_estimate(client):
    document = client.get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert "dry_run" in schemas["JobCreate"]["properties"]
    assert {"parameters", "flops_per_epoch", "training_bytes", "checkpoint_bytes"} <= set(schemas["JobEstimate"]["properties"])
    assert "200" in document["paths"]["/v1/jobs"]["post"]["responses"]
