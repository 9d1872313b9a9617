"""``Client.evaluate`` and ``axon evaluate`` against the live server: the stored report, one on a
dataset and one on labelled rows, and the refusals as typed errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn import metrics

from axon import InvalidRequest
from axon.cli import cli

SPEC = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 40, "validation_split": 0.25, "seed": 3}


def invoke(url: str, *args: str):
    return CliRunner().invoke(cli, list(args), prog_name="axon", env={"AXON_URL": url})


@pytest.fixture(scope="module")
def trained(client):
    """(model, features, labels) of a 3-class model trained through the server."""
    rng = np.random.default_rng(8)
    labels = np.repeat(["ash", "elm", "oak"], 40)
    features = np.array([[0, 0], [3, 0], [0, 3]])[np.repeat(np.arange(3), 40)] + rng.normal(scale=0.8, size=(120, 2))
    dataset = client.create_dataset(features, labels.tolist())
    job = client.wait(client.submit(dataset["id"], SPEC)["id"], timeout=60)
    assert job["status"] == "succeeded", job
    return client.model(job["model_id"]), dataset, features, labels


def test_the_client_evaluates_rows_and_datasets_as_sklearn_scores_them(client, trained):
    model, dataset, features, labels = trained
    assert model["evaluation"]["evaluated_on"] == "validation" and model["evaluation"]["n_samples"] == 30
    by_rows = client.evaluate(model["id"], inputs=features, targets=labels)
    predicted = client.predict(model["id"], features).predictions
    assert by_rows["confusion_matrix"] == metrics.confusion_matrix(labels, predicted, labels=["ash", "elm", "oak"]).tolist()
    assert by_rows["macro_f1"] == pytest.approx(metrics.f1_score(labels, predicted, average="macro"))
    by_dataset = client.evaluate(model["id"], dataset["id"])
    assert by_dataset["evaluated_on"] == "dataset" and by_dataset["confusion_matrix"] == by_rows["confusion_matrix"]
    with pytest.raises(InvalidRequest) as refused:
        client.evaluate(model["id"], inputs=features[:2], targets=["ash", "yew"])
    assert refused.value.errors[0]["pointer"] == "/targets/1"
    with pytest.raises(ValueError):
        client.evaluate(model["id"])


def test_axon_evaluate_prints_the_stored_report_and_one_on_a_dataset(server, trained):
    model, dataset, _, _ = trained
    stored = invoke(server, "evaluate", model["id"])
    assert stored.exit_code == 0, stored.output
    lines = stored.stdout.splitlines()
    assert lines[0].split(":", 1)[1].strip() == "the validation split"
    matrix_at = lines.index("confusion matrix (rows: true class, columns: predicted)")
    assert lines[matrix_at + 1].split() == ["ash", "elm", "oak"]
    shown = [[int(cell) for cell in line.split()[1:]] for line in lines[matrix_at + 2 : matrix_at + 5]]
    assert shown == model["evaluation"]["confusion_matrix"]
    on_dataset = invoke(server, "evaluate", model["id"], "--dataset", dataset["id"], "--json")
    assert on_dataset.exit_code == 0, on_dataset.output
    report = json.loads(on_dataset.stdout)
    assert report["dataset_id"] == dataset["id"] and report["n_samples"] == 120
    unknown = invoke(server, "evaluate", model["id"], "--dataset", "nope")
    assert unknown.exit_code == 1 and "/dataset_id" in unknown.stderr
