"""axon.sklearn's estimators under scikit-learn's own checks, and inside its model-selection tools.

``parametrize_with_checks`` yields exactly the checks ``check_estimator`` runs, one test each, and
every one passes: none is listed as an expected failure. One is skipped by scikit-learn itself:
``check_array_api_input`` runs only when SCIPY_ARRAY_API=1 is set, and the estimators do not claim
array-API support (their ``array_api_support`` tag is False: inputs become NumPy arrays).
"""

from __future__ import annotations

import pickle

import numpy as np
import onnxruntime
import pytest
from sklearn.datasets import load_wine, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from axon.onnx_export import ExportError
from axon.sklearn import AxonClassifier, AxonRegressor
from mlp import Model

# Few epochs keep the checks quick (the defaults pass them too, in about twice the time);
# these parameters still fit each check's data well enough for its accuracy and R^2 floors.
CHECKED = [AxonClassifier(epochs=20, learning_rate=0.01, batch_size=16),
           AxonRegressor(epochs=20, learning_rate=0.01, batch_size=16)]


@parametrize_with_checks(CHECKED)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# ---- inside scikit-learn's tools -----------------------------------------------------------------


@pytest.fixture(scope="module")
def wine():
    """178 rows, 13 features of very different scales, 3 classes."""
    return load_wine(return_X_y=True)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # MLPClassifier's, at 60 epochs.
def test_it_learns_as_well_as_scikit_learns_own_mlp(wine):
    X_train, X_test, y_train, y_test = train_test_split(*wine, test_size=0.3, random_state=0, stratify=wine[1])
    axon = AxonClassifier((32,), "tanh", epochs=60, learning_rate=0.01, random_state=0).fit(X_train, y_train)
    reference = make_pipeline(StandardScaler(), MLPClassifier((32,), activation="tanh", learning_rate_init=0.01,
                                                              max_iter=60, random_state=0)).fit(X_train, y_train)
    assert axon.score(X_test, y_test) >= reference.score(X_test, y_test) - 0.05
    assert axon.score(X_test, y_test) > 0.9
    assert len(axon.history_) == 60 and axon.history_[-1]["loss"] < axon.history_[0]["loss"]


def test_pipeline_grid_search_and_cross_validation(wine):
    X, y = wine
    pipeline = Pipeline([("scale", StandardScaler()), ("axon", AxonClassifier(epochs=30, learning_rate=0.01,
                                                                              random_state=0, standardize=False))])
    scores = cross_val_score(pipeline, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85
    search = GridSearchCV(pipeline, {"axon__hidden_layer_sizes": [(4,), (16, 16)], "axon__activation": ["relu", "gelu"]},
                          cv=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_["axon__hidden_layer_sizes"] in [(4,), (16, 16)]
    best = search.best_estimator_.named_steps["axon"]
    assert [layer.units for layer in best.model_.spec.layers] == list(search.best_params_["axon__hidden_layer_sizes"])
    assert search.best_score_ > 0.85 and search.score(X, y) > 0.9


def test_labels_of_any_type_come_back_as_given(wine):
    X, y = wine
    names = np.array(["barolo", "grignolino", "barbera"], dtype=object)[y]
    classifier = AxonClassifier(epochs=20, learning_rate=0.01, random_state=0).fit(X, names)
    assert list(classifier.classes_) == ["barbera", "barolo", "grignolino"]
    probabilities = classifier.predict_proba(X)
    assert probabilities.shape == (len(X), 3) and probabilities.dtype == np.float64
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert (classifier.predict(X) == classifier.classes_[probabilities.argmax(axis=1)]).all()
    assert classifier.score(X, names) > 0.9


def test_feature_names_from_a_data_frame(wine):
    pandas = pytest.importorskip("pandas")
    X, y = wine
    frame = pandas.DataFrame(X, columns=[f"f{index}" for index in range(X.shape[1])])
    regressor = AxonRegressor(epochs=5, random_state=0).fit(frame, y.astype(float))
    assert list(regressor.feature_names_in_) == list(frame.columns) and regressor.n_features_in_ == 13
    with pytest.warns(UserWarning, match="feature names"):
        regressor.predict(X)
    with pytest.raises(ValueError, match="feature names"):
        regressor.predict(frame[frame.columns[::-1]])


def test_regression_with_several_targets():
    X, y = make_regression(n_samples=200, n_features=5, n_targets=3, noise=1.0, random_state=0)
    y = y / y.std(axis=0)
    regressor = AxonRegressor((32,), "gelu", epochs=80, learning_rate=0.01, random_state=0).fit(X, y)
    assert regressor.n_outputs_ == 3 and regressor.predict(X).shape == (200, 3)
    assert regressor.score(X, y) > 0.95
    assert AxonRegressor(epochs=2).fit(X, y[:, 0]).predict(X).shape == (200,)


def test_parameters_reach_the_spec_and_bad_ones_name_the_field():
    classifier = AxonClassifier((8, 4), "elu", epochs=3, l2=0.01, dtype="float32", random_state=7,
                                spec={"schedule": "cosine", "optimizer": {"name": "sgd", "learning_rate": 0.1}})
    spec = classifier.network_spec()
    assert [(layer.units, layer.activation) for layer in spec.layers] == [(8, "elu"), (4, "elu")]
    assert (spec.epochs, spec.l2, spec.dtype, spec.schedule.name, spec.optimizer.name) == (3, 0.01, "float32", "cosine", "sgd")
    assert spec.seed == classifier.network_spec().seed  # An int random_state fixes the seed.
    assert classifier.set_params(epochs=4).get_params()["epochs"] == 4
    assert [layer.units for layer in AxonClassifier(12).network_spec().layers] == [12]
    assert AxonClassifier(()).network_spec().layers == []  # No hidden layer: logistic regression.
    X, y = load_wine(return_X_y=True)
    with pytest.raises(ValueError, match="epochs"):
        AxonClassifier(epochs=0).fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        AxonClassifier(activation="swish").fit(X, y)
    with pytest.raises(ValueError, match="units"):
        AxonClassifier((8, 2.5)).fit(X, y)  # Not silently 2 units.


def test_a_pickled_estimator_holds_the_npz_artefact_and_predicts_the_same(wine):
    X, y = wine
    classifier = AxonClassifier(epochs=5, random_state=0).fit(X, y)
    state = classifier.__getstate__()
    assert isinstance(state["model_"], bytes) and isinstance(classifier.model_, Model)
    assert Model.from_bytes(state["model_"]).n_features == 13
    restored = pickle.loads(pickle.dumps(classifier))
    np.testing.assert_array_equal(restored.predict_proba(X), classifier.predict_proba(X))


def test_to_onnx_answers_as_the_estimator_with_its_own_labels(wine):
    X, y = wine
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    classifier = AxonClassifier(epochs=10, learning_rate=0.01, random_state=0).fit(X, names)
    session = onnxruntime.InferenceSession(classifier.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(["label", "probabilities"], {"features": X})
    assert labels.tolist() == classifier.predict(X).tolist()
    np.testing.assert_allclose(probabilities, classifier.predict_proba(X), rtol=1e-5, atol=np.finfo(np.float64).eps)
    regressor = AxonRegressor(epochs=5, random_state=0).fit(X, y.astype(float))
    session = onnxruntime.InferenceSession(regressor.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(["value"], {"features": X})[0], regressor.predict(X), rtol=1e-5)
    with pytest.raises(ExportError, match="all integers or all strings"):
        AxonClassifier(epochs=1).fit(X, y.astype(float)).to_onnx()  # Labels 0.0, 1.0, 2.0.
