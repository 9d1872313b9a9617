"""POST /v1/jobs/{job_id}/predict: the job's own model answers; a job without one is a 409 saying why."""

from __future__ import annotations

import pytest

from service.app_state import app_state
from service.tables import Job

from tests.support.rows import insert_job, insert_model


def test_a_succeeded_job_predicts_as_its_model_does(app, client, classifier, blobs):
    model = insert_model(app, classifier)
    job_id = model.job_id
    with app_state(app).sessions() as session:
        session.get(Job, job_id).model_id = model.id
        session.commit()
    inputs = blobs[0][:4].tolist()

    by_job = client.post(f"/v1/jobs/{job_id}/predict", json={"inputs": inputs})
    by_model = client.post(f"/v1/models/{model.id}/predict", json={"inputs": inputs})

    assert by_job.status_code == 200 and by_job.get_json() == by_model.get_json()
    assert by_job.get_json()["predictions"] == classifier.model.predict(blobs[0][:4]).predictions.tolist()


@pytest.mark.parametrize("status, fields, reason", [
    ("failed", {"error_type": "diverged", "error_message": "diverged at epoch 4"},
     "the job failed (diverged at epoch 4), so it has no model"),
    ("queued", {}, "the job is queued; it has a model to predict with once it has succeeded"),
    ("running", {}, "the job is running"),
    ("cancelled", {}, "the job is cancelled"),
])
def test_a_job_without_a_model_is_409_with_the_reason(app, client, status, fields, reason):
    job = insert_job(app, None, status, **fields)

    response = client.post(f"/v1/jobs/{job.id}/predict", json={"inputs": [[0.0, 0.0]]})

    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert reason in response.get_json()["detail"]


def test_an_unknown_job_is_404(client):
    assert client.post(f"/v1/jobs/{'f' * 32}/predict", json={"inputs": [[0.0]]}).status_code == 404
