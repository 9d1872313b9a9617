"""mlp.evaluation against sklearn.metrics on the same predictions, and the report fit leaves on a model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import UndefinedMetricWarning

import mlp
from mlp.data import check_arrays, encode_targets, infer_task, split_indices
from mlp.evaluation import classification_report, regression_report, roc_auc

from tests.support.specs import make_spec


def random_probabilities(rng, n_samples: int, n_classes: int) -> np.ndarray:
    logits = rng.normal(scale=2.0, size=(n_samples, n_classes))
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def assert_same_or_undefined(ours: list, sklearns, name: str) -> None:
    """Equal where sklearn has a number; None exactly where sklearn (zero_division=nan) has NaN."""
    assert [value is None for value in ours] == [math.isnan(value) for value in sklearns], name
    defined = [(value, expected) for value, expected in zip(ours, sklearns) if value is not None]
    assert [value for value, _ in defined] == pytest.approx([expected for _, expected in defined], rel=1e-12), name


def assert_matches_sklearn(report: dict, true_indices, probabilities, classes) -> None:
    """Every number of a classification report equals sklearn's on the same rows."""
    labels = list(range(len(classes)))
    predicted = probabilities.argmax(axis=1)
    assert report["confusion_matrix"] == metrics.confusion_matrix(true_indices, predicted, labels=labels).tolist()
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        true_indices, predicted, labels=labels, zero_division=np.nan)
    per_class = report["per_class"]
    assert [entry["label"] for entry in per_class] == list(classes)
    assert [entry["support"] for entry in per_class] == support.tolist()
    for name, expected in (("precision", precision), ("recall", recall), ("f1", f1)):
        assert_same_or_undefined([entry[name] for entry in per_class], expected, name)
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(true_indices, predicted), rel=1e-12)
    assert report["macro_f1"] == pytest.approx(
        metrics.f1_score(true_indices, predicted, average="macro", zero_division=0), rel=1e-12)
    assert report["weighted_f1"] == pytest.approx(
        metrics.f1_score(true_indices, predicted, average="weighted", zero_division=0), rel=1e-12)
    assert report["log_loss"] == pytest.approx(metrics.log_loss(true_indices, probabilities, labels=labels), rel=1e-9)
    assert report["n_samples"] == len(true_indices)


def test_binary_report_matches_sklearn():
    rng = np.random.default_rng(0)
    probabilities = random_probabilities(rng, 500, 2)
    # Labels that agree with the probabilities more often than not, so no metric sits at a trivial value.
    true_indices = (rng.random(500) < 0.2 + 0.6 * probabilities[:, 1]).astype(int)
    report = classification_report(true_indices, probabilities, [0, 1])
    assert_matches_sklearn(report, true_indices, probabilities, [0, 1])
    assert report["roc_auc"] == pytest.approx(metrics.roc_auc_score(true_indices, probabilities[:, 1]), rel=1e-12)
    assert 0.6 < report["roc_auc"] < 0.95


def test_multiclass_report_matches_sklearn_and_has_no_roc_auc():
    rng = np.random.default_rng(1)
    classes = ["ant", "bee", "cat", "dog", "eel"]
    probabilities = random_probabilities(rng, 700, 5)
    true_indices = np.where(rng.random(700) < 0.5, probabilities.argmax(axis=1), rng.integers(0, 5, 700))
    report = classification_report(true_indices, probabilities, classes)
    assert_matches_sklearn(report, true_indices, probabilities, classes)
    assert report["roc_auc"] is None
    assert report["classes"] == classes


def test_a_class_absent_from_the_rows_is_listed_with_nulls_and_left_out_of_macro_f1():
    rng = np.random.default_rng(2)
    probabilities = random_probabilities(rng, 300, 4)
    probabilities[:, 2] = 0.0  # Class 2 is never predicted...
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    true_indices = rng.choice([0, 1, 3], size=300)  # ... and never the truth.
    report = classification_report(true_indices, probabilities, [10, 20, 30, 40])
    assert_matches_sklearn(report, true_indices, probabilities, [10, 20, 30, 40])
    assert report["per_class"][2] == {"label": 30, "precision": None, "recall": None, "f1": None, "support": 0}
    assert report["confusion_matrix"][2] == [0, 0, 0, 0]
    # Listing class 2 explicitly would count it as F1 = 0 in sklearn's macro mean; the report follows
    # sklearn's default labels (the ones that occur) instead.
    with_absent = metrics.f1_score(true_indices, probabilities.argmax(axis=1), average="macro",
                                   labels=[0, 1, 2, 3], zero_division=0)
    assert report["macro_f1"] > with_absent


def test_a_class_predicted_but_absent_from_the_truth_has_precision_zero_and_no_recall():
    true_indices = np.array([0, 0, 1, 1, 0])
    probabilities = np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.2, 0.7, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]])
    report = classification_report(true_indices, probabilities, ["a", "b", "c"])
    assert_matches_sklearn(report, true_indices, probabilities, ["a", "b", "c"])
    assert report["per_class"][2] == {"label": "c", "precision": 0.0, "recall": None, "f1": 0.0, "support": 0}


def test_a_single_class_split_has_no_roc_auc_where_sklearn_has_none():
    rng = np.random.default_rng(3)
    probabilities = random_probabilities(rng, 50, 2)
    true_indices = np.zeros(50, dtype=int)
    report = classification_report(true_indices, probabilities, [0, 1])
    assert_matches_sklearn(report, true_indices, probabilities, [0, 1])
    assert report["roc_auc"] is None
    with pytest.warns(UndefinedMetricWarning, match="Only one class"):
        assert math.isnan(metrics.roc_auc_score(true_indices, probabilities[:, 1]))


def test_roc_auc_counts_ties_as_sklearn_does():
    rng = np.random.default_rng(4)
    scores = rng.integers(0, 5, 400) / 4.0  # Five distinct scores: many ties.
    positive = rng.random(400) < 0.3 + 0.4 * scores
    assert roc_auc(positive, scores) == pytest.approx(metrics.roc_auc_score(positive, scores), rel=1e-12)
    assert roc_auc([True, False, True], [0.5, 0.5, 0.5]) == 0.5


def test_confidently_wrong_rows_cost_a_finite_log_loss_equal_to_sklearns():
    true_indices = np.array([0, 1, 1])
    probabilities = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    report = classification_report(true_indices, probabilities, [0, 1])
    assert report["log_loss"] == pytest.approx(metrics.log_loss(true_indices, probabilities), rel=1e-9)
    assert 20 < report["log_loss"] < 40


@pytest.mark.parametrize("n_targets", [1, 3])
def test_regression_report_matches_sklearn(n_targets):
    rng = np.random.default_rng(5)
    targets = rng.normal(loc=50, scale=10, size=(200, n_targets))
    predictions = targets + rng.normal(scale=4, size=targets.shape)
    report = regression_report(targets, predictions)
    assert report["mae"] == pytest.approx(metrics.mean_absolute_error(targets, predictions), rel=1e-12)
    assert report["rmse"] == pytest.approx(metrics.root_mean_squared_error(targets, predictions), rel=1e-12)
    assert report["r2"] == pytest.approx(metrics.r2_score(targets, predictions), rel=1e-12)
    assert 0.7 < report["r2"] < 0.95
    assert report["n_targets"] == n_targets
    if n_targets > 1:
        per_target = report["per_target"]
        raw = "raw_values"
        assert [entry["mae"] for entry in per_target] == pytest.approx(
            metrics.mean_absolute_error(targets, predictions, multioutput=raw), rel=1e-12)
        assert [entry["rmse"] for entry in per_target] == pytest.approx(
            metrics.root_mean_squared_error(targets, predictions, multioutput=raw), rel=1e-12)
        assert [entry["r2"] for entry in per_target] == pytest.approx(
            metrics.r2_score(targets, predictions, multioutput=raw), rel=1e-12)
    else:
        assert "per_target" not in report


def test_regression_edge_cases_follow_sklearn():
    constant = np.full((4, 1), 3.0)
    assert regression_report(constant, constant)["r2"] == metrics.r2_score(constant, constant) == 1.0
    assert regression_report(constant, constant + 1)["r2"] == metrics.r2_score(constant, constant + 1) == 0.0
    with pytest.warns(Warning):
        assert math.isnan(metrics.r2_score([1.0], [2.0]))  # sklearn: undefined on one row.
    one_row = regression_report([[1.0]], [[2.0]])
    assert one_row["r2"] is None and one_row["mae"] == 1.0 and one_row["rmse"] == 1.0


# ---- the report fit leaves on the model ----------------------------------------------------------


def validation_rows(features, targets, spec, task=None) -> np.ndarray:
    """The rows fit holds out for validation, found the way fit finds them."""
    features, targets = check_arrays(features, targets)
    encoded = encode_targets(targets, task or infer_task(targets))
    return split_indices(encoded, spec.validation_split, spec.seed)[1]


@pytest.mark.parametrize("early_stopping", [None, {"patience": 3}])
def test_fit_evaluates_the_models_weights_on_the_validation_split(early_stopping):
    """The report equals sklearn's metrics of the model's own predict on the held-out rows."""
    features, labels = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[labels]
    spec = make_spec(epochs=40, validation_split=0.3, seed=3, dtype="float64", early_stopping=early_stopping)
    model = mlp.fit(spec, features, names).model
    report = model.evaluation
    rows = validation_rows(features, names, spec)
    assert report["evaluated_on"] == "validation" and report["n_samples"] == len(rows) == 45
    prediction = model.predict(features[rows])
    true_indices = np.searchsorted(model.classes, names[rows])
    assert_matches_sklearn(report, true_indices, prediction.probabilities, model.classes)
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(names[rows], prediction.predictions))
    assert report["accuracy"] == pytest.approx(model.metrics["val_accuracy"])  # The held epoch's record agrees.
    assert report["accuracy"] > 0.8


def test_a_binary_fit_reports_the_roc_auc_of_its_predictions(spiral):
    features, targets = spiral
    spec = make_spec(epochs=30, validation_split=0.25, seed=1, dtype="float64")
    model = mlp.fit(spec, features, targets).model
    rows = validation_rows(features, targets, spec)
    probabilities = model.predict(features[rows]).probabilities
    assert model.evaluation["roc_auc"] == pytest.approx(metrics.roc_auc_score(targets[rows], probabilities[:, 1]))
    assert_matches_sklearn(model.evaluation, targets[rows], probabilities, [0, 1])


def test_a_regression_fit_reports_in_the_targets_own_units():
    features, targets = load_diabetes(return_X_y=True)
    spec = make_spec(epochs=30, validation_split=0.2, seed=2, dtype="float64")
    model = mlp.fit(spec, features, targets).model
    rows = validation_rows(features, targets, spec)
    predicted = model.predict(features[rows]).predictions
    report = model.evaluation
    assert report["evaluated_on"] == "validation" and report["n_samples"] == len(rows)
    assert report["mae"] == pytest.approx(metrics.mean_absolute_error(targets[rows], predicted), rel=1e-9)
    assert report["rmse"] == pytest.approx(metrics.root_mean_squared_error(targets[rows], predicted), rel=1e-9)
    assert report["r2"] == pytest.approx(metrics.r2_score(targets[rows], predicted), rel=1e-9)
    assert report["mae"] == pytest.approx(model.metrics["val_mae"], rel=1e-9)
    assert report["mae"] > 10  # In the targets' own units (25 to 346), not standardised ones.


def test_without_a_validation_split_the_report_is_on_the_training_rows_and_says_so(blobs):
    features, labels = blobs
    model = mlp.fit(make_spec(epochs=10, validation_split=0.0), features, labels).model
    report = model.evaluation
    assert report["evaluated_on"] == "training" and report["n_samples"] == len(labels)
    prediction = model.predict(features)
    true_indices = np.searchsorted(model.classes, labels)
    assert report["confusion_matrix"] == metrics.confusion_matrix(
        true_indices, prediction.probabilities.argmax(axis=1), labels=[0, 1, 2]).tolist()


def test_the_report_travels_in_the_artefact(spiral):
    features, targets = spiral
    model = mlp.fit(make_spec(epochs=3, validation_split=0.2), features, targets).model
    assert mlp.Model.from_bytes(model.to_bytes()).evaluation == model.evaluation
