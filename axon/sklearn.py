"""scikit-learn estimators over Axon's engine: ``AxonClassifier`` and ``AxonRegressor``.

``fit`` trains in this process through ``mlp.fit``, or, given ``server``, as a job on that Axon
server; ``predict`` and ``predict_proba`` run ``mlp.Model.predict`` here either way. The
parameters build one ``mlp.NetworkSpec`` (``spec`` reaches every other field of it), so an
estimator is exactly an Axon job. Needs the ``sklearn`` extra (``pip install 'axon[sklearn]'``).

Checked with ``sklearn.utils.estimator_checks`` in ``tests/estimators/test_sklearn.py``, which lists
the checks skipped and why.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

import mlp
from axon.client import Client
from mlp import Model, NetworkSpec

SEED_CEILING = 2**31 - 1  # random_state draws the engine's seed below this.


class _AxonEstimator(BaseEstimator):
    """What both estimators share: the parameters, the spec they build, fitting and pickling.

    Parameters
    ----------
    hidden_layer_sizes : units of each hidden layer, input side first (a number: one layer).
    activation : of every hidden layer: linear, relu, leaky_relu, elu, gelu, tanh, sigmoid, softplus.
    epochs, batch_size : passes over the data, and rows per gradient step.
    optimizer, learning_rate : the optimizer's name (sgd, momentum, nesterov, adam, adamw, rmsprop,
        adagrad) and its learning rate.
    l1, l2, dropout : weight penalties, and the dropout rate of every hidden layer.
    validation_split : fraction of the rows held out for the validation metrics in ``history_``
        (0: train on every row, scikit-learn's usual way).
    standardize : scale features by their mean and std (kept in the model, applied at predict).
    dtype : the network's arithmetic, "float64" (scikit-learn's default precision) or "float32".
    device : "cpu", "gpu" or "auto".
    random_state : None, an int or a RandomState; draws the engine's seed.
    spec : further ``mlp.NetworkSpec`` fields (schedule, early_stopping, init, loss, optimizer
        hyper-parameters as a mapping, ...), replacing those the parameters above build.
    server : None to train in this process, or an Axon server's URL to train there: the rows go up
        as a dataset, a job trains it, the model comes back (the dataset is deleted once the job
        has finished). The API key is AXON_KEY's. One regression target only.
    """

    def __init__(self, hidden_layer_sizes=(32,), activation="relu", *, epochs=100, batch_size=32, optimizer="adam",
                 learning_rate=1e-3, l1=0.0, l2=0.0, dropout=0.0, validation_split=0.0, standardize=True,
                 dtype="float64", device="cpu", random_state=None, spec=None, server=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.l1 = l1
        self.l2 = l2
        self.dropout = dropout
        self.validation_split = validation_split
        self.standardize = standardize
        self.dtype = dtype
        self.device = device
        self.random_state = random_state
        self.spec = spec
        self.server = server

    def network_spec(self) -> NetworkSpec:
        """The spec ``fit`` trains with.

        Raises
        ------
        pydantic.ValidationError (a ValueError)
            A parameter is out of range, naming the spec field.
        """
        # One number stands for one layer, as in scikit-learn's MLPs; pydantic checks each count.
        sizes = [self.hidden_layer_sizes] if np.ndim(self.hidden_layer_sizes) == 0 else self.hidden_layer_sizes
        fields = {
            "layers": [{"units": units, "activation": self.activation, "dropout": self.dropout} for units in sizes],
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": {"name": self.optimizer, "learning_rate": self.learning_rate},
            "l1": self.l1,
            "l2": self.l2,
            "validation_split": self.validation_split,
            "standardize": self.standardize,
            "dtype": self.dtype,
            "device": self.device,
            "seed": int(check_random_state(self.random_state).randint(SEED_CEILING)),
        }
        return NetworkSpec.model_validate({**fields, **(self.spec or {})})

    def _train(self, features: np.ndarray, targets: np.ndarray, task: str) -> "_AxonEstimator":
        if self.server is None:
            result = mlp.fit(self.network_spec(), features, targets, task=task)
            self.model_, self.history_ = result.model, result.history
        else:
            self.model_, self.history_ = train_on_server(self.server, self.network_spec(), features, targets, task)
        return self

    def to_onnx(self):
        """The fitted model as an ``onnx.ModelProto`` (see ``axon.onnx_export``), its ``label``
        output holding ``classes_``' labels (which must be all integers or all strings)."""
        from axon.onnx_export import to_onnx  # onnx is slow to import, and only exports need it.

        check_is_fitted(self)
        classes = getattr(self, "classes_", None)
        return to_onnx(self.model_, name=type(self).__name__, classes=None if classes is None else classes.tolist())

    def _predict_model(self, X) -> mlp.Prediction:
        check_is_fitted(self)
        return self.model_.predict(validate_data(self, X, reset=False, dtype=np.float64))

    # A fitted estimator pickles its model as Axon's npz artefact (no pickled engine objects inside).
    def __getstate__(self):
        state = dict(super().__getstate__())
        if isinstance(state.get("model_"), Model):
            state["model_"] = state["model_"].to_bytes()
        return state

    def __setstate__(self, state):
        if isinstance(state.get("model_"), bytes):
            state = {**state, "model_": Model.from_bytes(state["model_"])}
        super().__setstate__(state)


def train_on_server(url: str, spec: NetworkSpec, features: np.ndarray, targets: np.ndarray,
                    task: str) -> tuple[Model, list[dict]]:
    """Train ``spec`` on (features, targets) as a job on the Axon server at ``url``.

    Returns the trained model and the job's epoch records. Raises ``axon.AxonError`` when the
    server refuses, and RuntimeError when the job does not succeed.
    """
    if targets.ndim == 2 and targets.shape[1] != 1:
        raise ValueError(f"training on a server takes one regression target, got {targets.shape[1]}")
    with Client(url) as client:
        dataset = client.create_dataset(features, targets.reshape(len(targets)), task=task, name="axon.sklearn")
        job = client.wait(client.submit(dataset["id"], spec.model_dump(mode="json"))["id"])
        client.delete_dataset(dataset["id"])  # Only now: the server refuses while a job uses it.
        if job["status"] != "succeeded":
            raise RuntimeError(f"job {job['id']} on {url} {job['status']}: {job.get('error')}")
        with tempfile.TemporaryDirectory() as folder:
            model = Model.from_bytes(client.export(job["model_id"], Path(folder) / "model.npz").read_bytes())
        return model, client.metrics(job["id"])


class AxonClassifier(ClassifierMixin, _AxonEstimator):
    """A multi-layer perceptron classifier trained by Axon's engine (softmax, or one sigmoid unit for
    two classes); the parameters are ``_AxonEstimator``'s.

    Attributes
    ----------
    classes_ : (n_classes,) the sorted labels seen in ``fit``.
    n_features_in_, feature_names_in_ : as scikit-learn sets them.
    model_ : the trained ``mlp.Model``, which learned indices into ``classes_``; ``to_onnx()``
        exports it with the labels themselves.
    history_ : the engine's record of each epoch (the job's metrics, when trained on a server).
    """

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        # The engine learns class indices; classes_ keeps the labels, of whatever type they are.
        self.classes_, indices = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes, but the data "
                             f"contains only one class: {self.classes_[0]!r}")
        return self._train(X, indices, "classification")

    def predict_proba(self, X) -> np.ndarray:
        """(n_samples, n_classes) probabilities, columns in the order of ``classes_``."""
        return self._predict_model(X).probabilities.astype(np.float64, copy=False)

    def predict(self, X) -> np.ndarray:
        """(n_samples,) labels from ``classes_``: the most probable class of each row."""
        indices = self._predict_model(X).predictions
        return self.classes_[indices]


class AxonRegressor(RegressorMixin, _AxonEstimator):
    """A multi-layer perceptron regressor trained by Axon's engine (linear outputs, mean squared
    error unless ``spec`` says otherwise); the parameters are ``_AxonEstimator``'s.

    Attributes
    ----------
    n_outputs_ : targets per row.
    n_features_in_, feature_names_in_ : as scikit-learn sets them.
    model_, history_ : the trained ``mlp.Model`` and the engine's record of each epoch.
    """

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True)
        targets = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        self.n_outputs_ = targets.shape[1]
        return self._train(X, targets, "regression")

    def predict(self, X) -> np.ndarray:
        """(n_samples,) predictions, or (n_samples, n_outputs) for several targets."""
        return np.asarray(self._predict_model(X).predictions, dtype=np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # The engine fits several targets at once.
        return tags
