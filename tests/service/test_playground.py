"""TensorFlow Playground URLs in (POST /v1/jobs/from-playground) and out (GET /v1/jobs/{id}/playground).

The oracle for the keys is the playground's own src/state.ts (State.PROPS and its defaults) and
playground.ts (500 / 1200 points, noise in percent, percTrainData in percent); the URL below is
the playground's starting configuration as the issue gives it, wrapped across a line.
"""

from __future__ import annotations

import pytest

from service.playground_url import fragment_of, parse, seed_number

from tests.support.calls import create_dataset, submit_job

CLASSIC = ("https://playground.tensorflow.org/#activation=tanh&batchSize=10&dataset=circle&regDataset=reg-plane"
           "&learningRate=0.03&regularizationRate=0&noise=0&networkShape=4,2&seed=0.72826&showTestData=false"
           "&discretize=false&percTrainData=50&x=true&y=true&xTimesY=false&xSquared=false&ySquared=\n"
           "false&cosX=false&sinX=false&cosY=false&sinY=false&collectStats=false&problem=classification"
           "&initZero=false&hideText=false")
CLASSIC_ONE_LINE = CLASSIC.replace("\n", "")
REGRESSION = ("https://playground.tensorflow.org/#activation=relu&regularization=L1&batchSize=25&dataset=circle"
              "&regDataset=reg-gauss&learningRate=0.01&regularizationRate=0.003&noise=15&networkShape=6,6,3"
              "&seed=0.11111&showTestData=false&discretize=false&percTrainData=70&x=true&y=false&xTimesY=true"
              "&xSquared=false&ySquared=true&cosX=false&sinX=true&cosY=false&sinY=false&collectStats=false"
              "&problem=regression&initZero=false&hideText=false")


def import_url(client, url: str, **body):
    return client.post("/v1/jobs/from-playground", json={"url": url, **body})


def test_the_classic_url_makes_the_playground_dataset_and_network(client):
    response = import_url(client, CLASSIC)
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}" and job["status"] == "queued"
    spec = job["spec"]
    assert [(layer["units"], layer["activation"]) for layer in spec["layers"]] == [(4, "tanh"), (2, "tanh")]
    assert spec["optimizer"]["name"] == "sgd" and spec["optimizer"]["learning_rate"] == 0.03
    assert spec["batch_size"] == 10 and spec["validation_split"] == 0.5 and spec["l1"] == spec["l2"] == 0
    assert spec["init"] == "playground" and spec["standardize"] is False
    assert spec["early_stopping"] is None and spec["epochs"] == job["epochs"] == 300
    assert spec["seed"] == seed_number("0.72826")
    dataset = client.get(f"/v1/datasets/{job['dataset_id']}").get_json()
    assert dataset["n_samples"] == 500 and dataset["task"] == "classification"
    assert dataset["feature_names"] == ["x1", "x2"] and dataset["classes"] == [0, 1]
    assert dataset["name"] == "playground circle noise=0 seed=0.72826"


def test_a_fragment_alone_and_with_its_hash_ask_for_the_same_experiment():
    fragment = CLASSIC.split("#", 1)[1]
    assert parse(fragment) == parse("#" + fragment) == parse(CLASSIC)
    assert fragment_of(CLASSIC) == CLASSIC_ONE_LINE.split("#", 1)[1]


def test_regression_regularisation_noise_split_and_crossed_features_follow_the_playground(client):
    response = import_url(client, REGRESSION, epochs=7)
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    spec = job["spec"]
    assert [(layer["units"], layer["activation"]) for layer in spec["layers"]] == [(6, "relu")] * 2 + [(3, "relu")]
    assert spec["l1"] == 0.003 and spec["l2"] == 0 and spec["batch_size"] == 25
    assert spec["validation_split"] == pytest.approx(0.3) and spec["epochs"] == 7
    assert spec["standardize_targets"] is False
    dataset = client.get(f"/v1/datasets/{job['dataset_id']}").get_json()
    assert dataset["n_samples"] == 1200 and dataset["task"] == "regression"
    # The playground's INPUTS order: x, y, x^2, y^2, x*y, sin x, cos x, sin y, cos y.
    assert dataset["feature_names"] == ["x1", "x2^2", "x1*x2", "sin(x1)"]
    experiment = parse(REGRESSION)
    assert experiment.generator["kind"] == "multigauss" and experiment.generator["noise"] == 0.15


def test_missing_keys_take_the_playground_defaults():
    experiment = parse("seed=0.5")
    assert experiment.spec["layers"] == [{"units": 4, "activation": "tanh"}, {"units": 2, "activation": "tanh"}]
    assert experiment.spec["optimizer"]["learning_rate"] == 0.03 and experiment.spec["batch_size"] == 10
    assert experiment.generator["kind"] == "circle" and experiment.generator["features"] == ["x1", "x2"]
    assert parse("networkShape=&seed=1").spec["layers"] == []  # No hidden layer at all.


@pytest.mark.parametrize("change, keys", [
    ("&cosX=true", ["cosX"]),
    ("&momentum=0.9&colour=red", ["momentum", "colour"]),
    ("&activation=softmax", ["activation"]),
    ("&initZero=true", ["initZero"]),
    ("&problem=regression&regDataset=reg-maximum", ["regDataset"]),
    ("&learningRate=fast&noise=200", ["learningRate", "noise"]),
    ("&networkShape=4,x", ["networkShape"]),
    ("&x=false&y=false", ["x"]),
])
def test_a_key_that_cannot_be_imported_is_a_422_naming_it_and_stores_nothing(client, change, keys):
    response = import_url(client, CLASSIC_ONE_LINE + change)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    problem = response.get_json()
    named = [error["detail"].split(":", 1)[0] for error in problem["errors"]]
    assert sorted(named) == sorted(keys), problem
    assert all(error["pointer"] == "/url" for error in problem["errors"])
    assert client.get("/v1/datasets").get_json()["items"] == []
    assert client.get("/v1/jobs").get_json()["items"] == []


def test_display_keys_are_taken_and_hide_keys_too():
    experiment = parse(CLASSIC_ONE_LINE.replace("showTestData=false", "showTestData=true") + "&activation_hide=true&playButton_hide=true"
                       + "&tutorial=dataset")
    assert experiment.show_test_data is True and experiment.discretize is False


def test_a_network_beyond_the_servers_limits_is_refused_before_any_dataset_is_made(make_app):
    client = make_app(limits={"max_units": 3}).test_client()
    response = import_url(client, CLASSIC)
    assert response.status_code == 422, response.get_json()
    assert "networkShape" not in response.get_json()["detail"] and "units" in response.get_json()["detail"]
    assert client.get("/v1/datasets").get_json()["items"] == []


def test_a_job_cap_refusal_leaves_no_dataset_behind(make_app):
    client = make_app(max_active_jobs=1).test_client()
    assert import_url(client, CLASSIC).status_code == 202  # Queued: it holds the tenant's one slot.
    response = import_url(client, REGRESSION)
    assert response.status_code == 429
    assert [dataset["name"] for dataset in client.get("/v1/datasets").get_json()["items"]] == [
        "playground circle noise=0 seed=0.72826"]


@pytest.mark.parametrize("url", [CLASSIC, REGRESSION])
def test_url_to_job_to_url_round_trips(client, url):
    job = import_url(client, url).get_json()
    link = client.get(f"/v1/jobs/{job['id']}/playground")
    assert link.status_code == 200
    assert link.get_json() == {"url": url.replace("\n", ""), "reasons": []}


def test_a_job_the_playground_cannot_express_gets_no_url_and_the_reasons(client):
    dataset = create_dataset(client, features=[[0, 1, 2], [1, 0, 2], [2, 2, 0], [0, 0, 1]], targets=[0, 1, 0, 1])
    job = submit_job(client, dataset["id"], optimizer={"name": "adam"})
    answer = client.get(f"/v1/jobs/{job['id']}/playground").get_json()
    assert answer["url"] is None
    assert any("plain SGD" in reason for reason in answer["reasons"])
    assert any("not one a playground URL made" in reason for reason in answer["reasons"])
    assert client.get("/v1/jobs/nope/playground").status_code == 404
