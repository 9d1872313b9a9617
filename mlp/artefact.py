"""The trained model: weights, spec and preprocessing in one npz blob, and prediction from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import DataError
from .losses import LOSSES
from .network import Network
from .serialisation import pack, unpack
from .spec import NetworkSpec

FORMAT, VERSION = "axon-model", 1
# Rows per forward pass: bounds predict's memory whatever the input size, and keeps a chunk's layer
# outputs (1,024 x 256 float32 is 1 MiB) in the core's 2 MiB L2 cache, where the bias add, the
# activation and the next product read them. On one BLAS thread, 10,000 rows of 64-256-256-10
# took 33-36 ms in 4,096-row chunks and 25-26 ms in 1,024- or 512-row ones; fewer, larger chunks
# suit OpenBLAS's threads on a busy machine (docs/benchmarks.md, bench/onnx_predict.py).
PREDICT_BATCH_ROWS = 1024


@dataclass(frozen=True)
class Prediction:
    """What :meth:`Model.predict` returns.

    ``predictions``: (n_samples,) original class labels, or (n_samples,) values for one regression
    target, (n_samples, n_targets) for several. ``probabilities``: (n_samples, n_classes) in the
    order of ``Model.classes``, None for regression.
    """

    predictions: np.ndarray
    probabilities: np.ndarray | None


class Model:
    """A trained network ready to predict on the CPU.

    Predicting is re-entrant: it runs :meth:`mlp.network.Network.infer`, which keeps nothing in
    the network, so threads can share one loaded model.

    Parameters
    ----------
    meta : JSON-able description (spec, task, classes, loss, layer sizes, dtype, the held epoch
        and its record, the last epoch's record, the evaluation report).
    params : (n_params,) flat weights then biases, as :class:`mlp.network.Network` lays them out.
    mean, std : (n_features,) standardisation of the training split.
    target_mean, target_std : (n_targets,) standardisation of the regression targets the network
        was trained on (predictions are ``output * target_std + target_mean``); None for
        classification and for models written before targets were scaled.
    """

    def __init__(self, meta: dict, params: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 target_mean: np.ndarray | None = None, target_std: np.ndarray | None = None):
        self.meta = meta
        self.spec = NetworkSpec.model_validate(meta["spec"])
        self.task: str = meta["task"]
        self.classes: list | None = meta["classes"]
        self.n_features: int = meta["layer_sizes"][0]
        self.params, self.mean, self.std = params, mean, std
        self.target_mean, self.target_std = target_mean, target_std
        self.network = Network(
            meta["layer_sizes"], meta["activations"], [0.0] * len(meta["activations"]), meta["dtype"]
        )
        self.network.params[...] = params

    @property
    def metrics(self) -> dict | None:
        """The record of the epoch whose weights the model holds (the best one when early stopping
        restored it), when training stored it."""
        return self.meta.get("metrics")

    @property
    def epoch(self) -> int | None:
        """The 1-based epoch whose weights the model holds."""
        return self.meta.get("epoch")

    @property
    def last_metrics(self) -> dict | None:
        """The record of the last epoch trained, which differs from :attr:`metrics` after a restore."""
        return self.meta.get("last_metrics")

    @property
    def evaluation(self) -> dict | None:
        """The evaluation report training made of these weights (:mod:`mlp.evaluation`): on the
        validation split, or on the training split when there was none; None for older models."""
        return self.meta.get("evaluation")

    def to_bytes(self) -> bytes:
        arrays = {"params": self.params, "mean": self.mean, "std": self.std}
        if self.target_std is not None:
            arrays.update(target_mean=self.target_mean, target_std=self.target_std)
        return pack(self.meta, arrays)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "Model":
        """Load a model written by :meth:`to_bytes` (never unpickles).

        Raises
        ------
        mlp.serialisation.FormatError
            ``blob`` is not an Axon model.
        """
        meta, arrays = unpack(blob, FORMAT, VERSION)
        return cls(meta, arrays["params"], arrays["mean"], arrays["std"],
                   arrays.get("target_mean"), arrays.get("target_std"))

    def predict(self, features, batch_rows: int = PREDICT_BATCH_ROWS) -> Prediction:
        """Predict for ``features`` (n_samples, n_features), ``batch_rows`` rows at a time.

        Raises
        ------
        mlp.data.DataError
            Not a finite 2-D array of numbers with the model's feature count.
        """
        features = self._checked(features)
        outputs = np.empty((len(features), self.network.layer_sizes[-1]), dtype=self.network.dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # Overflow is checked for below.
            return self._predict_checked(features, outputs, batch_rows)

    def _predict_checked(self, features: np.ndarray, outputs: np.ndarray, batch_rows: int) -> Prediction:
        link = LOSSES[self.meta["loss"]].link
        for start in range(0, len(features), batch_rows):
            chunk = ((features[start : start + batch_rows] - self.mean) / self.std).astype(self.network.dtype)
            # Finite inputs can still overflow the model's float32 arithmetic (1e300, or 1e30
            # through a few ReLU layers); such rows get a clear error, never a NaN answer.
            if not np.isfinite(chunk).all():
                raise self._overflow()
            outputs[start : start + batch_rows] = link(self.network.infer(chunk))
        if not np.isfinite(outputs).all():
            raise self._overflow()
        return self._interpret(outputs)

    def in_target_units(self, values: np.ndarray) -> np.ndarray:
        """Regression outputs (n, n_targets) in the targets' own units: the training scaling undone."""
        if self.target_std is None:
            return values
        return values * self.target_std + self.target_mean

    def _overflow(self) -> DataError:
        return DataError("features", f"values too large for this model's {self.network.dtype.name} arithmetic")

    def _checked(self, features) -> np.ndarray:
        try:
            features = np.asarray(features, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError("features", "must be a rectangular array of numbers") from None
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise DataError(
                "features", f"expected rows of {self.n_features} features, got shape {features.shape}"
            )
        if not np.isfinite(features).all():
            raise DataError("features", "contains NaN or infinite values")
        return features

    def _interpret(self, outputs: np.ndarray) -> Prediction:
        """Turn link outputs (n, n_outputs) into labels and probabilities, or values."""
        if self.task == "regression":
            values = self.in_target_units(outputs.astype(np.float64))
            return Prediction(values[:, 0] if values.shape[1] == 1 else values, None)
        if outputs.shape[1] == 1:  # One sigmoid unit: P(second class).
            outputs = np.hstack([1.0 - outputs, outputs])
        labels = np.asarray(self.classes)[outputs.argmax(axis=1)]
        return Prediction(labels, outputs)


def model_from_state(state, metrics: dict | None = None, epoch: int | None = None,
                     last_metrics: dict | None = None) -> Model:
    """The model of a training state's current weights.

    Parameters
    ----------
    metrics : the record of the epoch whose weights these are.
    epoch : that epoch (1-based); default the state's finished epochs.
    last_metrics : the record of the last epoch trained; default ``metrics``.
    """
    data, network = state.data, state.network
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "spec": data.spec.model_dump(mode="json"),
        "task": data.task,
        "classes": data.classes,
        "loss": data.loss,
        "layer_sizes": network.layer_sizes,
        "activations": network.activations,
        "dtype": network.dtype.name,
        "epoch": state.epoch if epoch is None else epoch,
        "metrics": metrics,
        "last_metrics": metrics if last_metrics is None else last_metrics,
    }
    return Model(meta, state.backend.to_host(network.params).copy(), data.mean, data.std,
                 data.target_mean, data.target_std)
