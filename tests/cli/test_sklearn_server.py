"""axon.sklearn's estimators with ``server=``: trained as a job on a live ``axon serve``, they end
with the very model an in-process fit of the same parameters gives."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_wine, make_regression

from axon.sklearn import AxonClassifier, AxonRegressor

PARAMETERS = {"hidden_layer_sizes": (8,), "activation": "tanh", "epochs": 5, "learning_rate": 0.01,
              "random_state": 0}


def test_a_classifier_trained_on_the_server_is_the_one_trained_here(server, client):
    X, y = load_wine(return_X_y=True)
    labels = np.array(["barolo", "grignolino", "barbera"])[y]
    datasets_before = {dataset["id"] for dataset in client.datasets()}
    remote = AxonClassifier(server=server, **PARAMETERS).fit(X, labels)
    local = AxonClassifier(**PARAMETERS).fit(X, labels)
    np.testing.assert_array_equal(remote.model_.params, local.model_.params)
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))
    assert list(remote.classes_) == ["barbera", "barolo", "grignolino"] and remote.score(X, labels) > 0.8
    assert [record["epoch"] for record in remote.history_] == [1, 2, 3, 4, 5]
    assert {dataset["id"] for dataset in client.datasets()} == datasets_before  # Its dataset is gone.


def test_a_regressor_trained_on_the_server_is_the_one_trained_here(server):
    X, y = make_regression(n_samples=100, n_features=4, noise=1.0, random_state=0)
    remote = AxonRegressor(server=server, **PARAMETERS).fit(X, y)
    np.testing.assert_array_equal(remote.predict(X), AxonRegressor(**PARAMETERS).fit(X, y).predict(X))
    with pytest.raises(ValueError, match="one regression target, got 2"):
        AxonRegressor(server=server, **PARAMETERS).fit(X, np.c_[y, y])
