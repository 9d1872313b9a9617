"""The training loop, in small pieces: batches, one epoch, evaluation, the epoch record, fit.

:func:`fit` reports each epoch to a caller-supplied callback with the record and a
:class:`CheckpointHandle`; the callback returns True to stop. That is how the service persists
progress and cancels jobs without the engine knowing about either.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Literal

import numpy as np

from .artefact import Model, model_from_state
from .checkpoint import load_checkpoint, save_checkpoint
from .evaluation import final_report
from .losses import ClassificationSums, RegressionSums, add_sums
from .optimizers import clip_by_global_norm
from .spec import DEFAULT_LIMITS, Limits, NetworkSpec, Task
from .state import Split, TrainingData, TrainingState, start

StopReason = Literal["completed", "early_stopping", "callback"]
EVALUATION_ROWS = 4096  # Rows per forward pass when evaluating: bounds memory on large sets.


class DivergenceError(ArithmeticError):
    """The loss or the weights stopped being finite; ``epoch`` is the 1-based epoch it happened in."""

    def __init__(self, epoch: int, what: str):
        super().__init__(f"diverged at epoch {epoch}: the {what} is not finite")
        self.epoch = epoch


class CheckpointHandle:
    """Given to the callback: serialises the state after this epoch, only if asked."""

    def __init__(self, state: TrainingState):
        self._state = state

    @property
    def epoch(self) -> int:
        return self._state.epoch

    def to_bytes(self) -> bytes:
        return save_checkpoint(self._state)


Callback = Callable[[dict, CheckpointHandle], "bool | None"]


@dataclass
class FitResult:
    """The outcome of :func:`fit`: the model, this call's epoch records and why it ended."""

    model: Model
    history: list[dict]
    stop_reason: StopReason
    best_epoch: int | None
    checkpoint: CheckpointHandle


def batch_starts(n_samples: int, batch_size: int) -> range:
    """First row of each batch; the last batch may be smaller."""
    return range(0, n_samples, batch_size)


def epoch_order(state: TrainingState, epoch: int):
    """Row order for ``epoch`` (0-based): a permutation drawn from (seed, epoch) when shuffling."""
    n_samples = len(state.data.train)
    if not state.spec.shuffle:
        return state.backend.to_device(np.arange(n_samples))
    return state.backend.to_device(np.random.default_rng([state.spec.seed, 1, epoch]).permutation(n_samples))


def add_penalty_gradient(state: TrainingState) -> None:
    """Add the L1/L2 gradients ``l1 sign(W) + l2 W`` to the weight gradients (biases untouched)."""
    spec, network, scratch = state.spec, state.network, state.penalty_scratch
    if spec.l2:
        np.multiply(network.weights_flat, spec.l2, out=scratch)
        network.grad_weights_flat += scratch
    if spec.l1:
        np.sign(network.weights_flat, out=scratch)
        scratch *= spec.l1
        network.grad_weights_flat += scratch


def penalty(state: TrainingState) -> float:
    """``l1 |W|_1 + 0.5 l2 |W|^2`` at the current weights."""
    spec, weights = state.spec, state.network.weights_flat
    total = 0.0
    if spec.l2:
        total += 0.5 * spec.l2 * float((weights * weights).sum())
    if spec.l1:
        total += spec.l1 * float(np.abs(weights).sum())
    return total


BatchSums = ClassificationSums | RegressionSums


def train_epoch(state: TrainingState, epoch: int, learning_rate: float) -> BatchSums:
    """One pass over the training split in mini-batches; returns the summed batch statistics."""
    spec, network, backend = state.spec, state.network, state.backend
    train = state.data.train
    batch_size = min(spec.batch_size, len(train))
    features_buffer = backend.xp.empty((batch_size, train.features.shape[1]), network.dtype)
    targets_buffer = backend.xp.empty((batch_size, train.targets.shape[1]), network.dtype)
    delta_buffer = backend.xp.empty_like(targets_buffer)
    uses_dropout = any(network.dropout)
    dropout_rng = backend.random_generator([spec.seed, 2, epoch]) if uses_dropout else None
    clip_norm = spec.optimizer.clip_norm
    order = epoch_order(state, epoch)
    totals = None
    for start_row in batch_starts(len(train), batch_size):
        rows = order[start_row : start_row + batch_size]
        n_rows = rows.shape[0]
        features = backend.take_rows(train.features, rows, features_buffer[:n_rows])
        targets = backend.take_rows(train.targets, rows, targets_buffer[:n_rows])
        raw = network.forward(features, dropout_rng)
        stats = state.loss.value_and_delta(raw, targets, delta_buffer[:n_rows])
        network.backward(delta_buffer[:n_rows], uses_dropout)
        add_penalty_gradient(state)
        if clip_norm is not None:
            clip_by_global_norm([network.grads], clip_norm)
        state.optimizer.update([network.params], [network.grads], learning_rate)
        totals = add_sums(totals, stats)
    return totals


def evaluate(state: TrainingState, split: Split) -> BatchSums:
    """Summed statistics of the loss over ``split``, without dropout and without updating."""
    xp, network = state.backend.xp, state.network
    delta_buffer = xp.empty((min(EVALUATION_ROWS, len(split)), split.targets.shape[1]), network.dtype)
    totals = None
    for start_row in batch_starts(len(split), EVALUATION_ROWS):
        features = split.features[start_row : start_row + EVALUATION_ROWS]
        targets = split.targets[start_row : start_row + EVALUATION_ROWS]
        raw = network.forward(features)
        stats = state.loss.value_and_delta(raw, targets, delta_buffer[: len(features)])
        totals = add_sums(totals, stats)
    return totals


def summarise(data: TrainingData, totals: BatchSums, split: Split) -> dict:
    """Turn summed batch statistics into metrics: loss and accuracy, or loss, MAE and R².

    The loss is the objective the network trains on (on standardised targets when they are);
    MAE is in the targets' own units, and R², a ratio, is the same on either scale.
    """
    n_samples = len(split)
    metrics = {"loss": float(totals.loss_sum) / n_samples}
    if isinstance(totals, ClassificationSums):
        metrics["accuracy"] = float(totals.correct) / n_samples
        return metrics
    abs_sums = np.asarray(totals.abs_sums.tolist())  # (n_targets,), from the device if need be.
    if data.target_std is not None:
        abs_sums = abs_sums * data.target_std
    metrics["mae"] = float(abs_sums.mean()) / n_samples
    metrics["r2"] = r2_score(np.asarray(totals.squared_sums.tolist()), split.total_squares)
    return metrics


def r2_score(residual_squares: np.ndarray, total_squares: np.ndarray) -> float:
    """Mean over targets of ``1 - SS_res / SS_tot`` (scikit-learn's uniform average).

    A constant target scores 1 when predicted exactly and 0 otherwise, as scikit-learn does.
    """
    constant = total_squares == 0
    scores = np.where(constant, (residual_squares == 0).astype(float),
                      1.0 - residual_squares / np.where(constant, 1.0, total_squares))
    return float(scores.mean())


def epoch_record(state: TrainingState, epoch: int, learning_rate: float, train_totals: BatchSums,
                 seconds_from: float) -> dict:
    """The record of 0-based ``epoch``: 1-based epoch number, metrics, learning rate and seconds.

    Raises
    ------
    DivergenceError
        The training loss or the weights are not finite.
    """
    data = state.data
    record = {"epoch": epoch + 1}
    train_metrics = summarise(data, train_totals, data.train)
    if not math.isfinite(train_metrics["loss"]):
        raise DivergenceError(epoch + 1, "training loss")
    # A non-finite gradient always poisons the weights (NaN or ±Inf), so one check per epoch
    # catches it without reading anything back per batch.
    if not bool(state.backend.xp.isfinite(state.network.params).all()):
        raise DivergenceError(epoch + 1, "weights")
    train_metrics["loss"] += penalty(state)
    record.update(train_metrics)
    if data.validation is not None:
        validation_metrics = summarise(data, evaluate(state, data.validation), data.validation)
        if not all(math.isfinite(value) for value in validation_metrics.values()):
            raise DivergenceError(epoch + 1, "validation loss")
        record.update({f"val_{name}": value for name, value in validation_metrics.items()})
    record["learning_rate"] = learning_rate
    record["seconds"] = time.perf_counter() - seconds_from
    return record


def run_epochs(state: TrainingState) -> Iterator[tuple[dict, bool]]:
    """Train epoch after epoch from ``state.epoch``; yield (record, early_stop) after each."""
    for epoch in range(state.epoch, state.spec.epochs):
        began = time.perf_counter()
        learning_rate = state.schedule.learning_rate(epoch)
        # Overflow is how divergence starts; epoch_record detects it and raises, so NumPy's
        # warnings would only repeat it. (Not around the yield: errstate would leak to the caller.)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            totals = train_epoch(state, epoch, learning_rate)
            record = epoch_record(state, epoch, learning_rate, totals, began)
        state.schedule.observe(record)
        early_stop = state.stopper.observe(record, state.network.params)
        state.epoch, state.last_record = epoch + 1, record
        yield record, early_stop


def fit(
    spec: NetworkSpec,
    features,
    targets,
    *,
    task: Task | None = None,
    callback: Callback | None = None,
    resume_from: bytes | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> FitResult:
    """Train a network on ``features`` (n_samples, n_features) and ``targets`` (n_samples,).

    Parameters
    ----------
    spec : the network spec.
    features : (n_samples, n_features) numbers.
    targets : (n_samples,) class labels (int or str) or values; (n_samples, n_targets) values.
    task : "classification" or "regression"; inferred from the targets' type when None.
    callback : called after every epoch with the record and a :class:`CheckpointHandle`;
        returning True stops training after that epoch.
    resume_from : checkpoint bytes from an earlier run of the same spec on the same data; training
        continues after its epoch and ends as the uninterrupted run would have.
    limits : the ceilings the spec is checked against.

    Raises
    ------
    mlp.data.DataError, pydantic.ValidationError
        The data or the spec are invalid (nothing is checked again inside the loop).
    DivergenceError
        The loss or the weights became non-finite.
    mlp.backend.DeviceUnavailableError
        ``device: gpu`` without CuPy or a GPU.
    """
    data, backend = start(spec, features, targets, task, limits)
    state = (
        TrainingState.fresh(data, backend)
        if resume_from is None
        else load_checkpoint(resume_from, data, backend)
    )
    history: list[dict] = []
    stop_reason: StopReason = "early_stopping" if state.stopper.exhausted else "completed"
    handle = CheckpointHandle(state)
    for record, early_stop in ([] if state.stopper.exhausted else run_epochs(state)):
        history.append(record)
        if callback is not None and callback(record, handle):
            stop_reason = "callback"
            break
        if early_stop:
            stop_reason = "early_stopping"
            break
    return FitResult(final_model(state, stop_reason), history, stop_reason, state.stopper.best_epoch, handle)


def final_model(state: TrainingState, stop_reason: StopReason) -> Model:
    """The model a run ends with: the best epoch's weights and record when early stopping keeps
    them (and training was not stopped by the callback), else the last epoch's; the last epoch's
    record goes with it either way, under its own name, and so does the evaluation report of the
    weights it holds (:func:`mlp.evaluation.final_report`)."""
    stopper, last = state.stopper, state.last_record
    if stop_reason != "callback" and stopper.best_params is not None and stopper.best_epoch != state.epoch:
        state.network.params[...] = stopper.best_params
        model = model_from_state(state, stopper.best_record, stopper.best_epoch, last_metrics=last)
    else:
        model = model_from_state(state, last, state.epoch, last_metrics=last)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        model.meta["evaluation"] = final_report(state)
    return model
