"""Rows and requests the API tests share: datasets, jobs and models as the worker would leave them."""

from __future__ import annotations

import uuid

from service.app_state import app_state
from service.database import utcnow
from service.tables import LOCAL_TENANT, Job, TrainedModel

SMALL_SPEC = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 3, "batch_size": 32, "device": "cpu"}


def add_rows(app, *rows):
    """Commit ``rows`` the way the worker would, outside any request."""
    with app_state(app).sessions() as session:
        session.add_all(rows)
        session.commit()
    return rows


def create_dataset(client, **body) -> dict:
    response = client.post("/v1/datasets", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def spiral_dataset(client, n_samples: int = 60) -> dict:
    return create_dataset(client, generator={"kind": "spiral", "n_samples": n_samples, "seed": 1})


def submit_job(client, dataset_id: str, **spec_overrides) -> dict:
    response = client.post("/v1/jobs", json={"dataset_id": dataset_id, "spec": {**SMALL_SPEC, **spec_overrides}})
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def insert_job(app, dataset_id: str | None, status: str, **fields) -> Job:
    """A job row in any status, as if the worker had moved it there."""
    finished = status in ("succeeded", "failed", "cancelled")
    job = Job(tenant=fields.pop("tenant", LOCAL_TENANT), dataset_id=dataset_id, spec=SMALL_SPEC, status=status, epochs=SMALL_SPEC["epochs"],
              finished_at=utcnow() if finished else None, **fields)
    add_rows(app, job)
    return job


def insert_model(app, result) -> TrainedModel:
    """A succeeded job and its model, as the worker leaves them after training ``result``."""
    model = result.model
    model_id = uuid.uuid4().hex
    job = insert_job(app, None, "succeeded", epoch=SMALL_SPEC["epochs"], model_id=model_id)
    row = TrainedModel(id=model_id, tenant=job.tenant, job_id=job.id, task=model.task, n_features=model.n_features, classes=model.classes,
                       spec=model.meta["spec"], metrics=model.metrics, epoch=model.epoch,
                       last_metrics=model.last_metrics, evaluation=model.evaluation, artefact=model.to_bytes())
    add_rows(app, row)
    return row


def auth_headers(app) -> dict[str, str]:
    """The Authorization header of the app's test API key (see conftest's KeyedClient)."""
    return {"Authorization": f"Bearer {app.config['AXON_TEST_KEY']}"}
