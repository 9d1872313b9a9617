"""Data preparation: checks naming the field, task inference, class encoding, stratified split."""

import numpy as np
import pytest

from mlp import DataError, fit, infer_task
from mlp.data import encode_targets, split_indices, standardisation
from mlp.state import start

from tests.support.specs import make_spec


@pytest.mark.parametrize(
    "features, targets, field, words",
    [
        ([[1, 2], [3]], [0, 1], "features", "rectangular"),
        ([[1, "a"], [3, 4]], [0, 1], "features", "numbers"),
        ([[1, np.nan], [3, 4]], [0, 1], "features", "NaN"),
        ([[1, np.inf], [3, 4]], [0, 1], "features", "infinite"),
        ([1, 2, 3], [0, 1, 0], "features", "2-D"),
        ([[1, 2], [3, 4]], [0, 1, 1], "targets", "one entry per row"),
        ([[1, 2], [3, 4]], [0.5, np.nan], "targets", "NaN"),
        ([[1, 2], [3, 4]], [1, 1], "targets", "at least 2 classes"),
        ([[1, 2], [3, 4]], [1, "a"], "targets", None),
    ],
)
def test_bad_data_names_the_field(features, targets, field, words):
    with pytest.raises(DataError) as caught:
        fit(make_spec(epochs=1), features, targets)
    assert caught.value.field == field
    if words:
        assert words in caught.value.message


def test_task_is_inferred_from_the_target_type():
    assert infer_task(np.array([0, 1, 2])) == "classification"
    assert infer_task(np.array(["a", "b"])) == "classification"
    assert infer_task(np.array([True, False])) == "classification"
    assert infer_task(np.array([0.5, 1.5])) == "regression"


def test_classes_are_sorted_original_labels():
    encoded = encode_targets(np.array([10, 3, 10, 7]), "classification")
    assert encoded.classes == [3, 7, 10]
    assert encoded.values.tolist() == [2, 0, 2, 1]
    assert all(type(label) is int for label in encoded.classes)
    with pytest.raises(DataError, match="integers or strings"):
        encode_targets(np.array([0.5, 1.0]), "classification")


def test_split_is_stratified_and_deterministic():
    values = np.repeat([0, 1, 2], [500, 300, 200])
    np.random.default_rng(0).shuffle(values)
    encoded = encode_targets(values, "classification")
    train, validation = split_indices(encoded, 0.2, seed=4)
    assert len(np.intersect1d(train, validation)) == 0
    assert len(train) + len(validation) == 1000
    assert np.bincount(values[validation]).tolist() == [100, 60, 40]
    again = split_indices(encoded, 0.2, seed=4)
    assert np.array_equal(again[1], validation)
    assert not np.array_equal(split_indices(encoded, 0.2, seed=5)[1], validation)


def test_a_rare_class_keeps_a_training_row():
    encoded = encode_targets(np.array([0] * 20 + [1]), "classification")
    train, validation = split_indices(encoded, 0.5, seed=0)
    assert 20 in train  # The only row of class 1 stays in training.


def test_regression_split_and_no_split():
    encoded = encode_targets(np.linspace(0, 1, 50), "regression")
    train, validation = split_indices(encoded, 0.1, seed=0)
    assert (len(train), len(validation)) == (45, 5)
    train, validation = split_indices(encoded, 0.0, seed=0)
    assert len(train) == 50 and len(validation) == 0


def test_standardisation_uses_the_training_split_only():
    rng = np.random.default_rng(1)
    features = np.column_stack([rng.normal(5, 3, 400), np.full(400, 2.0)])
    targets = rng.integers(0, 2, 400)
    data, _ = start(make_spec(validation_split=0.25), features, targets)
    train_rows, _ = split_indices(encode_targets(targets, "classification"), 0.25, 0)
    np.testing.assert_allclose(data.mean, features[train_rows].mean(axis=0))
    np.testing.assert_allclose(data.std, [features[train_rows, 0].std(), 1.0])  # Constant column: std 1.
    assert data.mean[0] != pytest.approx(features[:, 0].mean(), abs=1e-12)
    np.testing.assert_allclose(np.asarray(data.train.features).mean(axis=0), [0, 0], atol=1e-5)
    mean, std = standardisation(features, enabled=False)
    assert mean.tolist() == [0, 0] and std.tolist() == [1, 1]


@pytest.mark.parametrize("monitored", [
    {"early_stopping": {"monitor": "val_loss"}},
    {"schedule": {"name": "plateau", "monitor": "val_loss"}},
])
def test_a_validation_monitor_without_validation_rows_is_a_data_error(monitored):
    """Four rows at validation_split 0.1 round to no validation row: a clear error, not a KeyError."""
    with pytest.raises(DataError, match="leaves no validation rows") as caught:
        fit(make_spec(epochs=2, **monitored), [[0.0], [1.0], [2.0], [3.0]], [0.5, 1.5, 2.5, 3.5])
    assert caught.value.field == "targets"
    assert fit(make_spec(epochs=2), [[0.0], [1.0], [2.0], [3.0]], [0.5, 1.5, 2.5, 3.5]).history[-1]["epoch"] == 2
