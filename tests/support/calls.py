"""Requests to the API that its tests share, through a Flask test client (or any client with
``post``): each asserts the status it expects and returns the answer's JSON."""

from __future__ import annotations

from .specs import SMALL_SPEC


def create_dataset(client, **body) -> dict:
    response = client.post("/v1/datasets", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def spiral_dataset(client, n_samples: int = 60) -> dict:
    return create_dataset(client, generator={"kind": "spiral", "n_samples": n_samples, "seed": 1})


def submit_job(client, dataset_id: str, **spec_overrides) -> dict:
    """A job of the API tests' spec (``spec_overrides`` replace its fields) on ``dataset_id``."""
    response = client.post("/v1/jobs", json={"dataset_id": dataset_id, "spec": {**SMALL_SPEC, **spec_overrides}})
    assert response.status_code == 202, response.get_json()
    return response.get_json()
