"""The evaluation report through the API: stored with the model, and POST /v1/models/{id}/evaluate
on a dataset or labelled rows, each number checked against sklearn.metrics on the same predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from service.app_state import app_state
from service.auth import create_key

from tests.support.calls import create_dataset
from tests.support.rows import insert_model

from .test_auth import with_key


@pytest.fixture
def classifier_id(app, classifier):
    return insert_model(app, classifier).id


def evaluate(client, model_id: str, **body):
    return client.post(f"/v1/models/{model_id}/evaluate", json=body)


def assert_report_matches_sklearn(report: dict, labels, probabilities, classes: list) -> None:
    """Every classification number equals sklearn's on these true labels and probabilities."""
    predicted = np.asarray(classes)[np.asarray(probabilities).argmax(axis=1)]
    assert report["confusion_matrix"] == metrics.confusion_matrix(labels, predicted, labels=classes).tolist()
    precision, recall, f1, support = metrics.precision_recall_fscore_support(labels, predicted, labels=classes,
                                                                             zero_division=0)
    assert [entry["label"] for entry in report["per_class"]] == classes
    assert [entry["support"] for entry in report["per_class"]] == support.tolist()
    for name, expected in (("precision", precision), ("recall", recall), ("f1", f1)):
        assert [entry[name] or 0.0 for entry in report["per_class"]] == pytest.approx(expected.tolist(), rel=1e-9)
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(labels, predicted), rel=1e-9)
    assert report["macro_f1"] == pytest.approx(metrics.f1_score(labels, predicted, average="macro"), rel=1e-9)
    assert report["weighted_f1"] == pytest.approx(metrics.f1_score(labels, predicted, average="weighted"), rel=1e-9)
    assert report["log_loss"] == pytest.approx(metrics.log_loss(labels, probabilities, labels=classes), rel=1e-6)


def test_the_model_shows_the_report_training_made(client, app, classifier):
    row = insert_model(app, classifier)
    body = client.get(f"/v1/models/{row.id}").get_json()
    assert body["evaluation"] == {**classifier.model.evaluation, "dataset_id": None}
    assert body["evaluation"]["evaluated_on"] == "validation" and body["evaluation"]["task"] == "classification"
    assert len(body["evaluation"]["confusion_matrix"]) == 3


def test_evaluate_rows_gives_sklearns_numbers_for_the_models_predictions(client, classifier_id, classifier, blobs):
    features, labels = blobs[0][::3], blobs[1][::3]
    response = evaluate(client, classifier_id, inputs=features.tolist(), targets=labels.tolist())
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["evaluated_on"] == "rows" and report["n_samples"] == 50 and report["roc_auc"] is None
    probabilities = classifier.model.predict(features).probabilities
    assert_report_matches_sklearn(report, labels, probabilities, ["cat", "dog", "eel"])
    assert report["accuracy"] > 0.8


def test_evaluate_a_dataset_equals_evaluating_its_rows(client, classifier_id, classifier, blobs):
    features, labels = blobs
    dataset = create_dataset(client, features=features.tolist(), targets=labels.tolist())
    by_dataset = evaluate(client, classifier_id, dataset_id=dataset["id"])
    assert by_dataset.status_code == 200, by_dataset.get_json()
    report = by_dataset.get_json()
    assert report["evaluated_on"] == "dataset" and report["dataset_id"] == dataset["id"]
    assert_report_matches_sklearn(report, labels, classifier.model.predict(features).probabilities,
                                  ["cat", "dog", "eel"])
    by_rows = evaluate(client, classifier_id, inputs=features.tolist(), targets=labels.tolist()).get_json()
    for name in ("confusion_matrix", "per_class", "accuracy", "macro_f1", "weighted_f1"):
        assert by_rows[name] == report[name], name
    assert by_rows["log_loss"] == pytest.approx(report["log_loss"], rel=1e-12)


def test_a_dataset_of_fewer_classes_than_the_model_lists_the_absent_class_with_nulls(client, classifier_id, classifier,
                                                                                     blobs):
    features, labels = blobs
    keep = labels != "dog"
    dataset = create_dataset(client, features=features[keep].tolist(), targets=labels[keep].tolist())
    report = evaluate(client, classifier_id, dataset_id=dataset["id"]).get_json()
    dog = report["per_class"][1]
    assert dog["label"] == "dog" and dog["support"] == 0 and dog["recall"] is None
    assert_report_matches_sklearn(report, labels[keep], classifier.model.predict(features[keep]).probabilities,
                                  ["cat", "dog", "eel"])


def test_a_binary_model_reports_roc_auc_and_none_on_one_class(client, app):
    import mlp
    from mlp.playground_data import GeneratorSpec, generate

    data = generate(GeneratorSpec(kind="circle", n_samples=200, noise=0.1, seed=4))
    result = mlp.fit(mlp.NetworkSpec.model_validate({"layers": [{"units": 8, "activation": "tanh"}], "epochs": 30,
                                                      "seed": 1}), data.features, data.targets)
    model_id = insert_model(app, result).id
    report = evaluate(client, model_id, inputs=data.features.tolist(), targets=data.targets.tolist()).get_json()
    probabilities = result.model.predict(data.features).probabilities
    assert report["roc_auc"] == pytest.approx(metrics.roc_auc_score(data.targets, probabilities[:, 1]), rel=1e-6)
    only_zeros = data.targets == 0
    single = evaluate(client, model_id, inputs=data.features[only_zeros].tolist(),
                      targets=data.targets[only_zeros].tolist()).get_json()
    assert single["roc_auc"] is None and single["per_class"][1]["support"] == 0


def test_evaluate_regression_rows_and_dataset(client, app, regressor):
    from mlp.playground_data import GeneratorSpec, generate

    model_id = insert_model(app, regressor).id
    stored = client.get(f"/v1/models/{model_id}").get_json()["evaluation"]
    assert stored["task"] == "regression" and stored["evaluated_on"] == "validation"
    data = generate(GeneratorSpec(kind="plane", n_samples=80, seed=9))
    predicted = regressor.model.predict(data.features).predictions
    report = evaluate(client, model_id, inputs=data.features.tolist(), targets=data.targets.tolist()).get_json()
    assert report["mae"] == pytest.approx(metrics.mean_absolute_error(data.targets, predicted), rel=1e-6)
    assert report["rmse"] == pytest.approx(metrics.root_mean_squared_error(data.targets, predicted), rel=1e-6)
    assert report["r2"] == pytest.approx(metrics.r2_score(data.targets, predicted), rel=1e-6)
    dataset = create_dataset(client, features=data.features.tolist(), targets=data.targets.tolist())
    by_dataset = evaluate(client, model_id, dataset_id=dataset["id"]).get_json()
    assert by_dataset["r2"] == pytest.approx(report["r2"], rel=1e-9)


def pointers(response) -> list[str]:
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    return [error["pointer"] for error in response.get_json()["errors"]]


def test_labels_the_model_does_not_know_are_each_named(client, classifier_id, blobs):
    rows = blobs[0][:4].tolist()
    response = evaluate(client, classifier_id, inputs=rows, targets=["cat", "cow", 3, "dog"])
    assert pointers(response) == ["/targets/1", "/targets/2"]
    assert "'cow' is not one of the model's classes" in response.get_json()["detail"]


def test_refusals_name_the_field(client, app, classifier_id, regressor, blobs):
    rows = blobs[0][:4].tolist()
    assert pointers(evaluate(client, classifier_id, inputs=rows, targets=["cat"])) == ["/targets"]
    assert pointers(evaluate(client, classifier_id, inputs=[[1.0, 2.0]], targets=["cat"])) == ["/inputs"]
    assert pointers(evaluate(client, classifier_id, dataset_id="nope")) == ["/dataset_id"]
    assert pointers(evaluate(client, classifier_id)) == ["/inputs", "/targets"]
    spiral = create_dataset(client, generator={"kind": "spiral", "n_samples": 50, "seed": 1})
    response = evaluate(client, classifier_id, dataset_id=spiral["id"])
    assert pointers(response) == ["/dataset_id"] and "2 features" in response.get_json()["detail"]
    other_labels = create_dataset(client, features=rows, targets=["cat", "cat", "yak", "emu"])
    response = evaluate(client, classifier_id, dataset_id=other_labels["id"])
    assert pointers(response) == ["/dataset_id"] and "'emu', 'yak'" in response.get_json()["detail"]
    regression_model = insert_model(app, regressor).id
    assert pointers(evaluate(client, regression_model, inputs=[[0.0, 1.0]], targets=["x"])) == ["/targets/0"]
    response = evaluate(client, regression_model, dataset_id=spiral["id"])
    assert pointers(response) == ["/dataset_id"] and "classification" in response.get_json()["detail"]
    assert evaluate(client, "0" * 32, inputs=rows, targets=["cat"] * 4).status_code == 404


def test_the_answer_size_limit_holds_for_datasets(make_app, classifier, blobs):
    app = make_app(max_predict_values=300)
    client = app.test_client()
    model_id = insert_model(app, classifier).id
    dataset = create_dataset(client, features=blobs[0].tolist(), targets=blobs[1].tolist())
    response = evaluate(client, model_id, dataset_id=dataset["id"])
    assert pointers(response) == ["/dataset_id"] and "max_predict_values" in response.get_json()["detail"]


def test_another_tenants_dataset_is_unknown(app, client, classifier_id, blobs):
    theirs = with_key(app, create_key(app_state(app).engine, "intruder"))
    dataset = create_dataset(theirs, features=blobs[0].tolist(), targets=blobs[1].tolist())
    response = evaluate(client, classifier_id, dataset_id=dataset["id"])
    assert pointers(response) == ["/dataset_id"] and "no dataset" in response.get_json()["detail"]


def test_text_cells_for_a_model_trained_on_numbers_are_a_422_naming_them(client, app, classifier):
    model = insert_model(app, classifier)
    answer = client.post(f"/v1/models/{model.id}/evaluate",
                         json={"inputs": [[0.1, "x", 0.3], [None, 0.2, 0.3]], "targets": ["cat", "dog"]})
    assert answer.status_code == 422
    assert [error["pointer"] for error in answer.get_json()["errors"]] == ["/inputs/0/1", "/inputs/1/0"]
