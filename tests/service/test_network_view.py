"""GET /v1/jobs/{id}/network: every neuron's output over the input plane, and the weights between them.

The oracle for a hidden neuron is the closed form, written out here with NumPy from the model's
own parameters (tanh of the standardised plane times W plus b); for the output it is the model's
predict, a separate code path (Network.infer and the loss's link).
"""

from __future__ import annotations

import numpy as np

from mlp import Model, NetworkSpec, fit
from service.app_state import app_state
from service.tables import Checkpoint

from tests.support.calls import create_dataset, submit_job
from tests.support.rows import add_rows

from .test_decision_boundary import commit_success, dataset_arrays, train_with_checkpoint


def playground_job(client, **spec):
    dataset = create_dataset(client, generator={"kind": "circle", "n_samples": 120, "seed": 3,
                                                "features": ["x1", "x2", "x1*x2"]})
    return submit_job(client, dataset["id"], layers=[{"units": 3, "activation": "tanh"}] * 2, **spec)


def test_before_any_weights_the_plane_and_points_come_without_layers(client):
    job = playground_job(client)
    answer = client.get(f"/v1/jobs/{job['id']}/network?resolution=5").get_json()
    assert answer["epoch"] is None and answer["layers"] is None and answer["grids"] is None
    plane = answer["plane"]
    assert (plane["x_name"], plane["y_name"]) == ("x1", "x2") and len(plane["x"]) == 5
    assert len(plane["points"]) == len(plane["targets"]) == len(plane["validation"]) == 120
    # validation_split 0.1 of the factory spec: stratified, 12 of 120 rows held out.
    assert sum(plane["validation"]) == 12


def test_each_neuron_is_its_closed_form_over_the_plane_of_x1_and_x2(app, client):
    job = playground_job(client)
    result, blob = train_with_checkpoint(app, job)
    add_rows(app, Checkpoint(job_id=job["id"], epoch=3, data=blob))
    answer = client.get(f"/v1/jobs/{job['id']}/network?resolution=7&grids=true").get_json()
    assert answer["source"] == "checkpoint" and answer["epoch"] == 3
    assert answer["inputs"] == ["x1", "x2", "x1*x2"]
    assert [len(column) for column in answer["grids"]] == [3, 3, 3, 1]  # inputs, hidden, hidden, output
    model: Model = result.model
    grid_x, grid_y = np.meshgrid(answer["plane"]["x"], answer["plane"]["y"])
    rows = np.column_stack([grid_x.ravel(), grid_y.ravel(), (grid_x * grid_y).ravel()])
    assert np.allclose(np.asarray(answer["grids"][0][2]).ravel(), rows[:, 2], atol=1e-3)
    weights, biases = model.network.weights, model.network.biases
    first = np.tanh(((rows - model.mean) / model.std) @ weights[0] + biases[0])
    second = np.tanh(first @ weights[1] + biases[1])
    for neuron in range(3):
        assert np.allclose(np.asarray(answer["grids"][1][neuron]).ravel(), first[:, neuron], atol=2e-3)
        assert np.allclose(np.asarray(answer["grids"][2][neuron]).ravel(), second[:, neuron], atol=2e-3)
    probability = model.predict(rows).probabilities[:, 1]
    assert np.allclose(np.asarray(answer["grids"][3][0]).ravel(), probability, atol=2e-3)
    layer = answer["layers"][0]
    assert layer["activation"] == "tanh" and np.allclose(layer["weights"], weights[0], atol=1e-4)
    assert answer["layers"][-1]["activation"] == "sigmoid"
    assert np.allclose(answer["mean"], model.mean) and np.allclose(answer["std"], model.std)
    without = client.get(f"/v1/jobs/{job['id']}/network?resolution=7").get_json()
    assert without["grids"] is None and without["layers"] == answer["layers"]


def test_the_model_answers_once_the_job_has_succeeded(app, client):
    dataset = create_dataset(client, generator={"kind": "plane", "n_samples": 80, "seed": 2})
    job = submit_job(client, dataset["id"], layers=[{"units": 4, "activation": "relu"}])
    features, targets = dataset_arrays(app, dataset["id"])
    result = fit(NetworkSpec.model_validate(job["spec"]), features, targets)
    commit_success(app, job["id"], result, 3)
    answer = client.get(f"/v1/jobs/{job['id']}/network?resolution=6&grids=true").get_json()
    assert answer["source"] == "model" and answer["task"] == "regression"
    grid_x, grid_y = np.meshgrid(answer["plane"]["x"], answer["plane"]["y"])
    values = result.model.predict(np.column_stack([grid_x.ravel(), grid_y.ravel()])).predictions
    assert np.allclose(np.asarray(answer["grids"][-1][0]).ravel(), values, atol=2e-3)  # In the targets' units.
    assert answer["layers"][-1]["activation"] == "linear"


def test_more_than_two_plain_features_get_the_weights_and_the_reason(app, client):
    rows = np.random.default_rng(0).normal(size=(40, 3))
    dataset = create_dataset(client, features=rows.tolist(), targets=[int(row.sum() > 0) for row in rows])
    job = submit_job(client, dataset["id"])
    features, targets = dataset_arrays(app, dataset["id"])
    result = fit(NetworkSpec.model_validate(job["spec"]), features, targets)
    commit_success(app, job["id"], result, 3)
    answer = client.get(f"/v1/jobs/{job['id']}/network").get_json()
    assert answer["plane"] is None and answer["grids"] is None
    assert "3 features" in answer["reason"]
    assert [len(layer["biases"]) for layer in answer["layers"]] == [8, 1]


def test_an_answer_is_cached_per_weights_and_the_tenant_check_still_runs(app, client):
    job = playground_job(client)
    result, blob = train_with_checkpoint(app, job)
    add_rows(app, Checkpoint(job_id=job["id"], epoch=3, data=blob))
    first = client.get(f"/v1/jobs/{job['id']}/network?resolution=4")
    second = client.get(f"/v1/jobs/{job['id']}/network?resolution=4")
    assert first.data == second.data
    assert len(app_state(app).network_cache) == 1
    assert client.get("/v1/jobs/unknown/network").status_code == 404
    assert client.get(f"/v1/jobs/{job['id']}/network?resolution=1000").status_code == 422


def test_playground_features_without_x2_still_span_the_plane_but_place_no_points(app, client):
    dataset = create_dataset(client, generator={"kind": "gauss", "n_samples": 60, "seed": 5, "features": ["x1", "x2^2"]})
    job = submit_job(client, dataset["id"])
    result, blob = train_with_checkpoint(app, job)
    add_rows(app, Checkpoint(job_id=job["id"], epoch=3, data=blob))
    answer = client.get(f"/v1/jobs/{job['id']}/network?resolution=5&grids=true").get_json()
    plane = answer["plane"]
    assert plane["points"] == plane["targets"] == plane["validation"] == []
    assert plane["y"][0] == -6 and plane["y"][-1] == 6  # The playground's own domain for the missing x2.
    grid_x, grid_y = np.meshgrid(plane["x"], plane["y"])
    expected = result.model.predict(np.column_stack([grid_x.ravel(), grid_y.ravel() ** 2])).probabilities[:, 1]
    assert np.allclose(np.asarray(answer["grids"][-1][0]).ravel(), expected, atol=2e-3)
    assert client.get(f"/v1/jobs/{job['id']}/boundary?resolution=5").get_json()["points"] == []


def test_a_network_past_the_views_limit_is_a_409_and_too_many_grid_cells_a_422(client):
    job = playground_job(client)
    too_many = submit_job(client, job["dataset_id"], layers=[{"units": 400, "activation": "relu"}] * 2)
    response = client.get(f"/v1/jobs/{too_many['id']}/network")
    assert response.status_code == 409 and "at most 100000" in response.get_json()["detail"]
    wide = submit_job(client, job["dataset_id"], layers=[{"units": 100, "activation": "relu"}] * 3)
    response = client.get(f"/v1/jobs/{wide['id']}/network?resolution=100&grids=true")
    assert response.status_code == 422 and response.get_json()["errors"][0]["parameter"] == "resolution"
    assert client.get(f"/v1/jobs/{wide['id']}/network?resolution=100").status_code == 200
