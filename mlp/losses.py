"""Output layers and their losses, as one table of (link, loss-and-delta) pairs.

Every network ends in a linear layer producing raw outputs ``z`` of shape (n_samples, n_outputs).
A loss entry knows how to turn ``z`` into predictions (``link``) and how to compute, from ``z`` and
the encoded targets ``y`` of the same shape, the batch loss and the output delta
``d(mean batch loss) / dz``, written into a caller-owned buffer. Working from ``z`` rather than from
probabilities keeps softmax and sigmoid cross-entropies finite for any logit.

Each ``value_and_delta`` returns the batch's statistics, summed over its samples, as a named tuple:
:class:`ClassificationSums` or :class:`RegressionSums` (see :data:`TASK_OF_LOSS`), which feed the
task's metrics.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from .activations import ACTIVATIONS

HUBER_DELTA = 1.0  # PyTorch's HuberLoss default.


class ClassificationSums(NamedTuple):
    """A classification loss's batch statistics (scalars, on the device with CuPy)."""

    loss_sum: Any  # The loss summed over the batch's samples.
    correct: Any  # Samples whose first top output is their class.


class RegressionSums(NamedTuple):
    """A regression loss's batch statistics, each residual sum per output so that standardised
    targets can be reported in their own units (each output's sums scale by its own std)."""

    loss_sum: Any  # The loss summed over the batch's samples.
    abs_sums: Any  # (n_outputs,) sums of |z - y|.
    squared_sums: Any  # (n_outputs,) sums of (z - y)^2.


def add_sums(totals, stats):
    """``totals + stats`` field by field (None + stats is stats): an epoch's sums, batch by batch."""
    return stats if totals is None else type(stats)(*(total + stat for total, stat in zip(totals, stats)))


class OutputLoss(NamedTuple):
    """One output/loss pair."""

    link: Callable  # z (n, k) -> predictions (n, k): probabilities or values, in place.
    value_and_delta: Callable  # (z, y, delta) -> ClassificationSums | RegressionSums; delta filled.


def _softmax(z):
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _row_sums(matrix):
    """(n, k) -> (n, 1) sums; a product with ones beats a reduction along the short class axis."""
    return matrix @ np.ones_like(matrix[0])[:, None]


def _cross_entropy(z, y, delta):
    """Softmax + cross-entropy on one-hot ``y``.

    The loss per sample is ``logsumexp(z) - z_true``. With ``p = softmax(z)``,
    ``d loss / dz = p - y``: the softmax Jacobian collapses against the one-hot target, which is
    why the output delta is ``(p - y) / n`` for the batch mean.
    """
    n_samples = z.shape[0]
    # The first top logit is the prediction (as in Model.predict), so a tie counts once, not always.
    rows, top = np.arange(n_samples, like=z), z.argmax(axis=1)
    correct = np.count_nonzero(y[rows, top])
    z -= z[rows, top][:, None]  # Shift so the largest logit is 0: exp never overflows.
    np.multiply(z, y, out=delta)
    true_logit_sum = delta.sum()  # Sum over the batch of each row's shifted true-class logit.
    np.exp(z, out=delta)
    row_sum = _row_sums(delta)
    delta /= row_sum
    loss_sum = np.log(row_sum).sum() - true_logit_sum
    delta -= y
    delta *= 1.0 / n_samples
    return ClassificationSums(loss_sum, correct)


def _binary_cross_entropy(z, y, delta):
    """Sigmoid + binary cross-entropy from one logit per sample, ``y`` in {0, 1} of shape (n, 1).

    ``loss = max(z, 0) - z y + log(1 + e^-|z|)`` is ``-y log p - (1 - y) log(1 - p)`` rewritten to
    stay finite, and ``d loss / dz = sigmoid(z) - y``: the sigmoid's derivative ``p (1 - p)``
    cancels the cross-entropy's ``1 / (p (1 - p))``. Hence the delta ``(p - y) / n``.
    """
    n_samples = z.shape[0]
    correct = np.count_nonzero((z > 0) == (y > 0.5))
    loss_sum = (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).sum()
    np.copyto(delta, z)
    ACTIVATIONS["sigmoid"](delta)
    delta -= y
    delta *= 1.0 / n_samples
    return ClassificationSums(loss_sum, correct)


def _identity(z):
    return z


def _regression_sums(residual):
    """Statistics every regression loss reports: sums of |r| and of r^2, each per output (k,)."""
    return np.abs(residual).sum(axis=0), (residual * residual).sum(axis=0)


def _mse(z, y, delta):
    """Mean squared error over every output (PyTorch's ``MSELoss``); linear output.

    ``d mean((z - y)^2) / dz = 2 (z - y) / (n k)``.
    """
    n_samples, n_outputs = z.shape
    np.subtract(z, y, out=delta)
    abs_sums, squared_sums = _regression_sums(delta)
    loss_sum = squared_sums.sum() / n_outputs
    delta *= 2.0 / (n_samples * n_outputs)
    return RegressionSums(loss_sum, abs_sums, squared_sums)


def _mae(z, y, delta):
    """Mean absolute error (PyTorch's ``L1Loss``); ``d |z - y| / dz = sign(z - y)``."""
    n_samples, n_outputs = z.shape
    np.subtract(z, y, out=delta)
    abs_sums, squared_sums = _regression_sums(delta)
    np.sign(delta, out=delta)
    delta *= 1.0 / (n_samples * n_outputs)
    return RegressionSums(abs_sums.sum() / n_outputs, abs_sums, squared_sums)


def _huber(z, y, delta):
    """Huber loss with threshold 1 (PyTorch's ``HuberLoss``); gradient is the clipped residual."""
    n_samples, n_outputs = z.shape
    np.subtract(z, y, out=delta)
    abs_sums, squared_sums = _regression_sums(delta)
    magnitude = np.abs(delta)
    quadratic = np.minimum(magnitude, HUBER_DELTA)
    # 0.5 r^2 inside the threshold, delta (|r| - delta / 2) outside; both written as one formula.
    loss_sum = (quadratic * (magnitude - 0.5 * quadratic)).sum() / n_outputs
    np.clip(delta, -HUBER_DELTA, HUBER_DELTA, out=delta)
    delta *= 1.0 / (n_samples * n_outputs)
    return RegressionSums(loss_sum, abs_sums, squared_sums)


LOSSES = {
    "cross_entropy": OutputLoss(_softmax, _cross_entropy),
    "binary_cross_entropy": OutputLoss(ACTIVATIONS["sigmoid"], _binary_cross_entropy),
    "mse": OutputLoss(_identity, _mse),
    "mae": OutputLoss(_identity, _mae),
    "huber": OutputLoss(_identity, _huber),
}

TASK_OF_LOSS = {
    "cross_entropy": "classification",
    "binary_cross_entropy": "classification",
    "mse": "regression",
    "mae": "regression",
    "huber": "regression",
}
