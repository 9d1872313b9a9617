"""GET /v1/jobs/{id}/boundary: the network's predictions over a grid of its 2-feature dataset.

The oracle for the predictions is the engine itself: a checkpoint taken at the last epoch holds
the same weights as the model ``mlp.fit`` returns, so the boundary drawn from that checkpoint
(with the standardisation rebuilt server side) must equal the model's own predictions.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete, update

from mlp import NetworkSpec, fit
from service.app_state import app_state
from service.api import boundary as boundary_module
from service.auth import create_key
from service.tables import LOCAL_TENANT, Checkpoint, Dataset, Job, TrainedModel
from service.storage import decode_arrays, training_targets

from tests.support.calls import create_dataset, spiral_dataset, submit_job
from tests.support.rows import add_rows, insert_job

from .test_auth import with_key

PROBLEM = "application/problem+json"


def dataset_arrays(app, dataset_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, targets) as the worker hands them to the engine."""
    with app_state(app).sessions() as session:
        dataset = session.get(Dataset, dataset_id)
        features, stored = decode_arrays(dataset.data)
        return features, training_targets(stored, dataset.classes)


def train_with_checkpoints(app, job: dict):
    """Train the job's stored spec on its dataset; returns (FitResult, [checkpoint bytes after each epoch])."""
    features, targets = dataset_arrays(app, job["dataset_id"])
    checkpoints = []
    result = fit(NetworkSpec.model_validate(job["spec"]), features, targets,
                 callback=lambda record, handle: checkpoints.append(handle.to_bytes()))
    return result, checkpoints


def train_with_checkpoint(app, job: dict):
    """Train the job's stored spec on its dataset; returns (FitResult, checkpoint bytes after the last epoch)."""
    result, checkpoints = train_with_checkpoints(app, job)
    return result, checkpoints[-1]


def commit_success(app, job_id: str, result, epoch: int) -> str:
    """What the worker's succeed() commits in one transaction: the model, the job succeeded, no checkpoint."""
    model = result.model
    row = TrainedModel(tenant=LOCAL_TENANT, job_id=job_id, task=model.task, n_features=2, classes=model.classes,
                       spec=model.meta["spec"], metrics=model.metrics, artefact=model.to_bytes())
    with app_state(app).sessions() as session:
        session.add(row)
        session.flush()
        session.execute(update(Job).where(Job.id == job_id).values(status="succeeded", epoch=epoch, model_id=row.id))
        session.execute(delete(Checkpoint).where(Checkpoint.job_id == job_id))
        session.commit()
        return row.id


def count_dataset_decodes(monkeypatch) -> list:
    """Wrap the boundary's dataset decoder; the returned list grows by one per decode."""
    decodes, decode = [], boundary_module.decode_arrays
    monkeypatch.setattr(boundary_module, "decode_arrays", lambda blob: decodes.append(1) or decode(blob))
    return decodes


def grid_rows(boundary: dict) -> np.ndarray:
    """(resolution², 2) the grid's points, row i of the answer at y[i]."""
    grid_x, grid_y = np.meshgrid(boundary["x"], boundary["y"])
    return np.column_stack([grid_x.ravel(), grid_y.ravel()])


def test_before_any_checkpoint_the_answer_has_the_points_and_axes_but_no_predictions(client):
    dataset = spiral_dataset(client, n_samples=80)
    job = submit_job(client, dataset["id"])
    response = client.get(f"/v1/jobs/{job['id']}/boundary?resolution=12")
    assert response.status_code == 200, response.get_json()
    boundary = response.get_json()
    assert boundary["epoch"] is None and boundary["source"] is None
    assert boundary["predicted"] is None and boundary["confidence"] is None
    assert len(boundary["x"]) == len(boundary["y"]) == 12
    points = np.asarray(boundary["points"])
    assert points.shape == (80, 2) and sorted(set(boundary["targets"])) == [0, 1]
    # The grid spans the data with a margin on every side.
    for axis, column in (("x", 0), ("y", 1)):
        assert boundary[axis][0] < points[:, column].min() and boundary[axis][-1] > points[:, column].max()
    assert boundary["classes"] == [0, 1] and boundary["feature_names"] == ["x1", "x2"]


def test_a_checkpoint_is_drawn_with_the_standardisation_the_worker_used(app, client):
    dataset = spiral_dataset(client, n_samples=60)
    job = submit_job(client, dataset["id"], epochs=4, validation_split=0.2)
    result, blob = train_with_checkpoint(app, job)
    add_rows(app, Checkpoint(job_id=job["id"], epoch=4, data=blob))
    boundary = client.get(f"/v1/jobs/{job['id']}/boundary?resolution=15").get_json()
    assert boundary["epoch"] == 4 and boundary["source"] == "checkpoint"
    expected = result.model.predict(grid_rows(boundary)).probabilities
    predicted, confidence = np.asarray(boundary["predicted"]), np.asarray(boundary["confidence"])
    assert predicted.shape == confidence.shape == (15, 15)
    np.testing.assert_array_equal(predicted.ravel(), expected.argmax(axis=1))
    np.testing.assert_allclose(confidence.ravel(), expected.max(axis=1), atol=1e-4)


def test_a_finished_job_is_drawn_from_its_model(app, client):
    dataset = spiral_dataset(client, n_samples=60)
    job = submit_job(client, dataset["id"], epochs=3)
    result, _ = train_with_checkpoint(app, job)
    model = result.model
    row = TrainedModel(tenant=LOCAL_TENANT, job_id=job["id"], task=model.task, n_features=2, classes=model.classes,
                       spec=model.meta["spec"], metrics=model.metrics, artefact=model.to_bytes())
    add_rows(app, row)
    with app_state(app).sessions() as session:
        session.execute(update(Job).where(Job.id == job["id"]).values(status="succeeded", epoch=3, model_id=row.id))
        session.commit()
    boundary = client.get(f"/v1/jobs/{job['id']}/boundary?resolution=9").get_json()
    assert boundary["source"] == "model" and boundary["epoch"] == 3
    expected = model.predict(grid_rows(boundary)).probabilities
    np.testing.assert_array_equal(np.asarray(boundary["predicted"]).ravel(), expected.argmax(axis=1))


def test_a_model_committed_between_the_job_read_and_the_checkpoint_read_is_drawn(app, client, monkeypatch):
    dataset = spiral_dataset(client, n_samples=60)
    job = submit_job(client, dataset["id"], epochs=3)
    result, blob = train_with_checkpoint(app, job)
    add_rows(app, Checkpoint(job_id=job["id"], epoch=2, data=blob))
    with app_state(app).sessions() as session:
        session.execute(update(Job).where(Job.id == job["id"]).values(status="running", epoch=2))
        session.commit()
    find_job = boundary_module.find_job

    def find_then_succeed(job_id: str) -> Job:
        # The route has read "running, no model"; the worker's success lands before the checkpoint read.
        found = find_job(job_id)
        assert found.status == "running" and found.model_id is None
        commit_success(app, job_id, result, epoch=3)
        return found

    monkeypatch.setattr(boundary_module, "find_job", find_then_succeed)
    boundary = client.get(f"/v1/jobs/{job['id']}/boundary?resolution=8").get_json()
    assert boundary["source"] == "model" and boundary["epoch"] == 3
    expected = result.model.predict(grid_rows(boundary)).probabilities
    np.testing.assert_array_equal(np.asarray(boundary["predicted"]).ravel(), expected.argmax(axis=1))


def test_the_same_request_again_is_answered_without_decoding_the_dataset(app, client, monkeypatch):
    dataset = spiral_dataset(client, n_samples=60)
    job = submit_job(client, dataset["id"], epochs=4)
    _, blobs = train_with_checkpoints(app, job)
    decodes = count_dataset_decodes(monkeypatch)
    url = f"/v1/jobs/{job['id']}/boundary?resolution=10"
    before = client.get(url).get_json()
    assert before["epoch"] is None and len(decodes) == 1
    add_rows(app, Checkpoint(job_id=job["id"], epoch=2, data=blobs[1]))
    first = client.get(url)
    again = client.get(url)
    assert first.status_code == again.status_code == 200 and again.mimetype == "application/json"
    assert first.get_json()["epoch"] == 2 and again.get_data() == first.get_data()
    assert len(decodes) == 2  # The checkpoint was new weights; the repeat was not.
    assert len(client.get(f"/v1/jobs/{job['id']}/boundary?resolution=11").get_json()["x"]) == 11
    assert len(decodes) == 3  # Another resolution is another answer.


def test_a_newer_checkpoint_gives_a_new_answer(app, client, monkeypatch):
    dataset = spiral_dataset(client, n_samples=60)
    job = submit_job(client, dataset["id"], epochs=4, validation_split=0.2)
    result, blobs = train_with_checkpoints(app, job)
    add_rows(app, Checkpoint(job_id=job["id"], epoch=1, data=blobs[0]))
    url = f"/v1/jobs/{job['id']}/boundary?resolution=12"
    early = client.get(url).get_json()
    with app_state(app).sessions() as session:
        session.execute(update(Checkpoint).where(Checkpoint.job_id == job["id"]).values(epoch=4, data=blobs[3]))
        session.commit()
    late = client.get(url).get_json()
    assert (early["epoch"], late["epoch"]) == (1, 4)
    expected = result.model.predict(grid_rows(late)).probabilities
    np.testing.assert_allclose(np.asarray(late["confidence"]).ravel(), expected.max(axis=1), atol=1e-4)
    assert early["confidence"] != late["confidence"]  # Three more epochs of training moved the weights.


def test_a_cached_answer_is_still_scoped_to_its_tenant(app, client):
    dataset = spiral_dataset(client, n_samples=40)
    job = submit_job(client, dataset["id"])
    url = f"/v1/jobs/{job['id']}/boundary?resolution=5"
    assert client.get(url).status_code == 200  # Now cached.
    intruder = with_key(app, create_key(app_state(app).engine, "intruder"))
    response = intruder.get(url)
    assert response.status_code == 404 and response.mimetype == PROBLEM


def test_a_deleted_dataset_is_409_even_after_its_answer_was_cached(app, client):
    dataset = spiral_dataset(client, n_samples=40)
    job = submit_job(client, dataset["id"])
    url = f"/v1/jobs/{job['id']}/boundary?resolution=5"
    assert client.get(url).status_code == 200  # Now cached.
    with app_state(app).sessions() as session:
        session.execute(delete(Dataset).where(Dataset.id == dataset["id"]))
        session.commit()
    response = client.get(url)
    assert response.status_code == 409 and "deleted" in response.get_json()["detail"]


def test_regression_gives_values_and_no_confidence(app, client):
    dataset = create_dataset(client, generator={"kind": "plane", "n_samples": 50, "seed": 4})
    job = submit_job(client, dataset["id"], epochs=2)
    result, blob = train_with_checkpoint(app, job)
    add_rows(app, Checkpoint(job_id=job["id"], epoch=2, data=blob))
    boundary = client.get(f"/v1/jobs/{job['id']}/boundary?resolution=6").get_json()
    assert boundary["task"] == "regression" and boundary["confidence"] is None and boundary["classes"] is None
    expected = result.model.predict(grid_rows(boundary)).predictions
    np.testing.assert_allclose(np.asarray(boundary["predicted"]).ravel(), expected, atol=1e-4)
    features, targets = dataset_arrays(app, dataset["id"])
    np.testing.assert_allclose(boundary["targets"], targets, atol=1e-4)


def test_large_datasets_show_a_fixed_sample_of_points(client):
    dataset = spiral_dataset(client, n_samples=1000)
    job = submit_job(client, dataset["id"])
    first = client.get(f"/v1/jobs/{job['id']}/boundary").get_json()
    again = client.get(f"/v1/jobs/{job['id']}/boundary").get_json()
    assert len(first["points"]) == len(first["targets"]) == 300
    assert first["points"] == again["points"]  # Redraws must not make the points jump.
    assert len(first["x"]) == 60  # The default resolution.


def test_a_dataset_without_a_plane_is_409(client):
    rows = np.random.default_rng(0).normal(size=(20, 3)).tolist()
    dataset = create_dataset(client, features=rows, targets=[index % 2 for index in range(20)])
    job = submit_job(client, dataset["id"])
    response = client.get(f"/v1/jobs/{job['id']}/boundary")
    assert response.status_code == 409 and response.mimetype == PROBLEM
    assert "a plane needs 2" in response.get_json()["detail"] and "has 3 features" in response.get_json()["detail"]


def test_the_playgrounds_crossed_features_are_drawn_over_x1_and_x2(app, client):
    dataset = create_dataset(client, generator={"kind": "xor", "n_samples": 40, "features": ["x1", "x2", "x1*x2"]})
    job = submit_job(client, dataset["id"], epochs=2)
    result, blob = train_with_checkpoint(app, job)
    add_rows(app, Checkpoint(job_id=job["id"], epoch=2, data=blob))
    boundary = client.get(f"/v1/jobs/{job['id']}/boundary?resolution=6").get_json()
    assert boundary["feature_names"] == ["x1", "x2"]
    rows = grid_rows(boundary)
    expected = result.model.predict(np.column_stack([rows, rows[:, 0] * rows[:, 1]])).probabilities.max(axis=1)
    np.testing.assert_allclose(np.asarray(boundary["confidence"]).ravel(), expected, atol=1e-4)
    features, _ = dataset_arrays(app, dataset["id"])
    np.testing.assert_allclose(boundary["points"], features[:, :2], atol=1e-4)


def test_a_job_whose_dataset_was_deleted_is_409(app, client):
    job = insert_job(app, None, "succeeded")
    response = client.get(f"/v1/jobs/{job.id}/boundary")
    assert response.status_code == 409 and "deleted" in response.get_json()["detail"]


def test_an_unreadable_checkpoint_is_409_not_a_500(app, client):
    dataset = spiral_dataset(client)
    job = submit_job(client, dataset["id"])
    add_rows(app, Checkpoint(job_id=job["id"], epoch=1, data=b"not an npz"))
    response = client.get(f"/v1/jobs/{job['id']}/boundary")
    assert response.status_code == 409 and response.mimetype == PROBLEM
    assert "checkpoint" in response.get_json()["detail"]


def test_unknown_job_is_404(client):
    response = client.get("/v1/jobs/nope/boundary")
    assert response.status_code == 404 and response.mimetype == PROBLEM


@pytest.mark.parametrize("resolution", ["1", "201", "many"])
def test_resolution_out_of_bounds_is_422_naming_it(client, resolution):
    dataset = spiral_dataset(client)
    job = submit_job(client, dataset["id"])
    response = client.get(f"/v1/jobs/{job['id']}/boundary?resolution={resolution}")
    assert response.status_code == 422 and response.get_json()["errors"][0]["parameter"] == "resolution"


def test_the_route_is_in_the_openapi_document(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/v1/jobs/{job_id}/boundary"]["get"]
    assert {"200", "404", "409", "422"} <= set(operation["responses"])
