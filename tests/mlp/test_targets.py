"""Regression targets are standardised for training, and everything the user sees is in their units.

Oracles: scikit-learn's metrics on the model's own predictions, and a run on targets scaled by hand.
"""

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, r2_score

from mlp import Model, fit
from mlp.data import encode_targets, split_indices
from mlp.state import start

from tests.support.specs import make_spec


def raw_targets(n_samples=400, seed=0):
    """Features (n, 3) and targets far from 0 with a large spread, like a price or a weight in grams."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n_samples, 3))
    targets = 3000.0 + 800.0 * (features @ np.array([1.0, -0.5, 0.25])) + 40.0 * rng.normal(size=n_samples)
    return features, targets


def regression_spec(**overrides):
    fields = dict(layers=[{"units": 16, "activation": "tanh"}], epochs=60, batch_size=16, validation_split=0.25,
                  dtype="float64")
    fields.update(overrides)
    return make_spec(**fields)


def validation_rows(targets, spec):
    return split_indices(encode_targets(targets, "regression"), spec.validation_split, spec.seed)[1]


def test_raw_targets_learn_only_when_standardised():
    features, targets = raw_targets()
    scaled = fit(regression_spec(), features, targets).model
    unscaled = fit(regression_spec(standardize_targets=False), features, targets).model
    rows = validation_rows(targets, regression_spec())
    assert r2_score(targets[rows], scaled.predict(features[rows]).predictions) > 0.95
    assert r2_score(targets[rows], unscaled.predict(features[rows]).predictions) < 0.5


def test_reported_metrics_are_in_the_targets_units():
    """val_mae and val_r2 of the last epoch equal scikit-learn's on the model's predictions."""
    features, targets = raw_targets()
    spec = regression_spec()
    result = fit(spec, features, targets)
    rows = validation_rows(targets, spec)
    predictions = result.model.predict(features[rows]).predictions
    last = result.history[-1]
    assert last["val_mae"] == pytest.approx(mean_absolute_error(targets[rows], predictions), rel=1e-9)
    assert last["val_r2"] == pytest.approx(r2_score(targets[rows], predictions), rel=1e-9)
    assert last["val_mae"] > 10  # Grams, not standard deviations.


def test_the_scaling_is_the_training_splits_and_the_same_as_by_hand():
    """Training on raw targets with the scaling on equals training on targets scaled by hand."""
    features, targets = raw_targets()
    spec = regression_spec()
    data, _ = start(spec, features, targets)
    train_rows = np.setdiff1d(np.arange(len(targets)), validation_rows(targets, spec))
    mean, std = targets[train_rows].mean(), targets[train_rows].std()
    assert data.target_mean == pytest.approx([mean]) and data.target_std == pytest.approx([std])
    automatic = fit(spec, features, targets).model
    by_hand = fit(regression_spec(standardize_targets=False), features, (targets - mean) / std).model
    np.testing.assert_allclose(automatic.params, by_hand.params, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(automatic.predict(features).predictions,
                               by_hand.predict(features).predictions * std + mean, rtol=1e-12)


def test_several_targets_each_get_their_own_scale_and_survive_the_artefact():
    features, first = raw_targets()
    targets = np.column_stack([first, first / 1000.0 - 7.0])
    model = fit(regression_spec(), features, targets).model
    assert model.target_mean.shape == model.target_std.shape == (2,)
    loaded = Model.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(loaded.predict(features).predictions, model.predict(features).predictions)
    rows = validation_rows(targets, regression_spec())
    for column in range(2):
        assert r2_score(targets[rows, column], model.predict(features[rows]).predictions[:, column]) > 0.95


def test_classification_has_no_target_scaling(blobs):
    features, labels = blobs
    model = fit(make_spec(epochs=2), features, labels).model
    assert model.target_mean is None and model.target_std is None
    assert Model.from_bytes(model.to_bytes()).target_std is None
