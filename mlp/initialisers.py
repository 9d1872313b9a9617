"""Initialisers: a table of ``(rng, fan_in, size) -> array of size`` drawn from one family.

Weights are always drawn on the host in float64 from a NumPy generator, then cast and moved to
the device, so a seed gives the same starting point on the CPU and on a GPU.

Biases are drawn too, from the same distribution as their layer's weights (scikit-learn's
``_init_coef`` does this; PyTorch's ``nn.Linear`` draws them from U(±1/sqrt(fan_in)), the
TensorFlow Playground starts them at 0.1). Zero biases look harmless but are not: on data that is
symmetric under x -> -x (circle, xor, spiral, most of the playground's shapes) a network of odd
activations (tanh, linear, sigmoid up to a constant) with zero biases computes an odd function,
so every bias gradient is zero by symmetry and the biases never move; on standardised inputs
with small Glorot weights such a network stalls (a 2-24-24-2 tanh net on a spiral stayed at
loss 0.67 for 300 epochs). Treating the bias as the weight of a constant input of 1 keeps the
family's variance argument: the pre-activation variance grows by a factor (fan_in + 1) / fan_in
at most, negligible beside the family's own choice of scale.
"""

from __future__ import annotations

import math

import numpy as np

from .activations import RELU_FAMILY


def _he_normal(rng: np.random.Generator, fan_in: int, fan_out: int, size) -> np.ndarray:
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=size)


def _he_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, size) -> np.ndarray:
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=size)


def _glorot_normal(rng: np.random.Generator, fan_in: int, fan_out: int, size) -> np.ndarray:
    return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=size)


def _glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, size) -> np.ndarray:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=size)


def _lecun_normal(rng: np.random.Generator, fan_in: int, fan_out: int, size) -> np.ndarray:
    return rng.normal(0.0, math.sqrt(1.0 / fan_in), size=size)


def _playground(rng: np.random.Generator, fan_in: int, fan_out: int, size) -> np.ndarray:
    # The TensorFlow Playground's start (nn.ts): weights U(-0.5, 0.5), every bias 0.1.
    if len(size) == 1:
        return np.full(size, 0.1)
    return rng.uniform(-0.5, 0.5, size=size)


INITIALISERS = {
    "he_normal": _he_normal,
    "he_uniform": _he_uniform,
    "glorot_normal": _glorot_normal,
    "glorot_uniform": _glorot_uniform,
    "lecun_normal": _lecun_normal,
    "playground": _playground,
}


def resolve_init(init: str, activation: str) -> str:
    """Name the initialiser ``init`` means for a layer followed by ``activation``.

    ``"auto"`` is He (uniform) for the ReLU family, whose halved variance it compensates, and
    Glorot (uniform) for tanh, sigmoid and linear layers, the output layer included.
    """
    if init != "auto":
        return init
    return "he_uniform" if activation in RELU_FAMILY else "glorot_uniform"


def initial_parameters(
    rng: np.random.Generator, layer_sizes: list[int], activations: list[str], init: str
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Draw every layer's weights, then its biases, layer by layer from ``rng``.

    Parameters
    ----------
    layer_sizes : [n_features, *hidden_units, n_outputs]
    activations : one per layer after the input, ``"linear"`` for the output layer.

    Returns
    -------
    (weights, biases): float64 arrays, layer i's weights of shape
    (layer_sizes[i], layer_sizes[i + 1]) and its biases of shape (layer_sizes[i + 1],).
    """
    weights, biases = [], []
    for fan_in, fan_out, activation in zip(layer_sizes[:-1], layer_sizes[1:], activations):
        draw = INITIALISERS[resolve_init(init, activation)]
        weights.append(draw(rng, fan_in, fan_out, (fan_in, fan_out)))
        biases.append(draw(rng, fan_in, fan_out, (fan_out,)))
    return weights, biases
