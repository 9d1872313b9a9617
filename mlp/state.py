"""Everything one training run holds between epochs, and how a fresh run builds it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .backend import Backend, get_backend
from .data import DataError, EncodedTargets, check_arrays, encode_targets, fingerprint, infer_task, split_indices, standardisation
from .early_stopping import EarlyStopper
from .initialisers import initial_parameters
from .losses import LOSSES
from .network import Network
from .optimizers import Optimizer, make_optimizer
from .schedules import Schedule
from .spec import DEFAULT_LIMITS, DataShape, Limits, NetworkSpec, Task, bind_spec, n_outputs


@dataclass
class Split:
    """One part of the data on the device.

    ``features`` is (n_samples, n_features), standardised, in the spec's dtype; ``targets`` is
    (n_samples, n_outputs) as the loss expects them (one-hot, 0/1 column or values);
    ``total_squares`` is (n_targets,) sum of squared deviations from the mean of those
    (possibly standardised) targets, for R² (regression only).
    """

    features: object
    targets: object
    total_squares: np.ndarray | None

    def __len__(self) -> int:
        return self.features.shape[0]


@dataclass
class TrainingData:
    """The bound spec and the data it trains on, prepared once before the first epoch."""

    spec: NetworkSpec
    task: Task
    classes: list | None
    loss: str
    n_features: int
    n_outputs: int
    mean: np.ndarray  # (n_features,)
    std: np.ndarray  # (n_features,)
    # (n_targets,) scaling of regression targets (zeros and ones when switched off); None for classes.
    target_mean: np.ndarray | None
    target_std: np.ndarray | None
    train: Split
    validation: Split | None
    # What the fingerprint hashes: the features as given and the encoded targets. Hashed only when
    # a checkpoint is written or read, which most runs never do: hashing cost 17 ms of the 45 ms
    # start of a 20,000 x 64 run, and grows with the data (some 0.8 s for a million rows of 64).
    hashed: tuple = field(repr=False)
    _fingerprint: str | None = field(default=None, init=False, repr=False)

    @property
    def fingerprint(self) -> str:
        """A short hash of the data (:func:`mlp.data.fingerprint`), computed on first use."""
        if self._fingerprint is None:
            features, encoded = self.hashed
            self._fingerprint = fingerprint(np.asarray(features, dtype=np.float64), encoded)
        return self._fingerprint


def prepare_data(
    spec: NetworkSpec, features, targets, task: Task | None, limits: Limits, backend: Backend
) -> TrainingData:
    """Check and encode the data, bind the spec to its shape, split, standardise, move to the device.

    Raises
    ------
    mlp.data.DataError
        The data cannot be trained on.
    pydantic.ValidationError
        The spec does not fit the data (loss against task, parameter count).
    """
    given = features
    features, targets = check_arrays(features, targets)
    encoded = encode_targets(targets, task or infer_task(targets))
    shape = encoded.shape(features.shape[1])
    spec = bind_spec(spec, shape, limits)
    loss = spec.resolved_loss(shape)
    train_rows, validation_rows = split_indices(encoded, spec.validation_split, spec.seed)
    if len(validation_rows) == 0:
        _check_monitors_need_no_validation(spec)
    mean, std = standardisation(features[train_rows] if spec.standardize else features, spec.standardize)
    scaled = (features - mean) / std if spec.standardize else features  # (x - 0) / 1 is x: no copy.
    target_mean = target_std = None
    if encoded.task == "regression":
        target_mean, target_std = standardisation(encoded.values[train_rows], spec.standardize_targets)

    def to_split(rows: np.ndarray) -> Split:
        targets = _loss_targets(encoded, rows, loss, shape)
        if target_std is not None:
            targets = (targets - target_mean) / target_std
        return Split(
            backend.to_device(scaled[rows], spec.dtype),
            backend.to_device(targets, spec.dtype),
            _total_squares(targets) if encoded.task == "regression" else None,
        )

    return TrainingData(
        spec=spec,
        task=encoded.task,
        classes=encoded.classes,
        loss=loss,
        n_features=features.shape[1],
        n_outputs=n_outputs(shape, loss),
        mean=mean,
        std=std,
        target_mean=target_mean,
        target_std=target_std,
        train=to_split(train_rows),
        validation=to_split(validation_rows) if len(validation_rows) else None,
        hashed=(given, encoded),
    )


def _check_monitors_need_no_validation(spec: NetworkSpec) -> None:
    """A split too small to hold a validation row cannot feed a ``val_*`` monitor.

    The spec validates ``validation_split > 0`` for such monitors, but a small dataset can still
    round every class's share down to zero rows.
    """
    monitors = [spec.early_stopping.monitor] if spec.early_stopping is not None else []
    if spec.schedule.name == "plateau":
        monitors.append(spec.schedule.monitor)
    for monitor in monitors:
        if monitor.startswith("val_"):
            raise DataError(
                "targets",
                f"validation_split {spec.validation_split} leaves no validation rows in this data, "
                f"so '{monitor}' cannot be monitored; use more rows, a larger validation_split or a "
                "training metric",
            )


def _loss_targets(encoded: EncodedTargets, rows: np.ndarray, loss: str, shape: DataShape) -> np.ndarray:
    """Targets shaped like the raw outputs: one-hot (n, k), a 0/1 column (n, 1), or values (n, k)."""
    values = encoded.values[rows]
    if loss == "cross_entropy":
        one_hot = np.zeros((len(rows), shape.n_classes))
        one_hot[np.arange(len(rows)), values] = 1.0  # One-hot by indexing.
        return one_hot
    if loss == "binary_cross_entropy":
        return values.reshape(-1, 1).astype(np.float64)
    return values


def _total_squares(values: np.ndarray) -> np.ndarray:
    return ((values - values.mean(axis=0)) ** 2).sum(axis=0)


class TrainingState:
    """Network, optimizer, schedule, early stopping and the count of finished epochs.

    Together with the spec's seed this is the whole state of a run: the random streams for
    shuffling and dropout are derived from (seed, epoch), so they need no saving.
    """

    def __init__(self, data: TrainingData, backend: Backend):
        spec = data.spec
        self.data = data
        self.spec = spec
        self.backend = backend
        self.loss = LOSSES[data.loss]
        self.network = Network(
            [data.n_features, *(layer.units for layer in spec.layers), data.n_outputs],
            [layer.activation for layer in spec.layers],
            [layer.dropout for layer in spec.layers],
            spec.dtype,
            backend,
        )
        self.optimizer: Optimizer = make_optimizer(spec.optimizer, [self.network.params])
        self.schedule = Schedule(spec.schedule, spec.optimizer.learning_rate, spec.epochs)
        self.stopper = EarlyStopper(spec.early_stopping, has_validation=data.validation is not None)
        self.epoch = 0  # Epochs finished.
        self.last_record: dict | None = None  # The record of epoch ``self.epoch``.
        self.penalty_scratch = backend.xp.zeros_like(self.network.weights_flat)

    @classmethod
    def fresh(cls, data: TrainingData, backend: Backend) -> "TrainingState":
        """A run at epoch 0 with weights and biases drawn from the spec's seed."""
        state = cls(data, backend)
        rng = np.random.default_rng([data.spec.seed, 3])
        network = state.network
        network.set_parameters(
            *initial_parameters(rng, network.layer_sizes, [*network.activations, "linear"], data.spec.init)
        )
        return state


def start(spec: NetworkSpec, features, targets, task: Task | None = None, limits: Limits = DEFAULT_LIMITS):
    """Prepare data and backend for ``spec``; returns (TrainingData, Backend)."""
    backend = get_backend(spec.device)
    return prepare_data(spec, features, targets, task, limits, backend), backend
