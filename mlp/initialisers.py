"""Weight initialisers: a table of ``(rng, fan_in, fan_out) -> weights (fan_in, fan_out)``.

Weights are always drawn on the host in float64 from a NumPy generator, then cast and moved to
the device, so a seed gives the same starting point on the CPU and on a GPU. Biases start at zero.
"""

from __future__ import annotations

import math

import numpy as np

from .activations import RELU_FAMILY


def _he_normal(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def _he_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def _glorot_normal(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def _glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def _lecun_normal(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    return rng.normal(0.0, math.sqrt(1.0 / fan_in), size=(fan_in, fan_out))


INITIALISERS = {
    "he_normal": _he_normal,
    "he_uniform": _he_uniform,
    "glorot_normal": _glorot_normal,
    "glorot_uniform": _glorot_uniform,
    "lecun_normal": _lecun_normal,
}


def resolve_init(init: str, activation: str) -> str:
    """Name the initialiser ``init`` means for a layer followed by ``activation``.

    ``"auto"`` is He (uniform) for the ReLU family, whose halved variance it compensates, and
    Glorot (uniform) for tanh, sigmoid and linear layers, the output layer included.
    """
    if init != "auto":
        return init
    return "he_uniform" if activation in RELU_FAMILY else "glorot_uniform"


def initial_weights(
    rng: np.random.Generator, layer_sizes: list[int], activations: list[str], init: str
) -> list[np.ndarray]:
    """Draw every layer's weights.

    Parameters
    ----------
    layer_sizes : [n_features, *hidden_units, n_outputs]
    activations : one per layer after the input, ``"linear"`` for the output layer.

    Returns
    -------
    list of float64 arrays, layer i of shape (layer_sizes[i], layer_sizes[i + 1]).
    """
    return [
        INITIALISERS[resolve_init(init, activation)](rng, fan_in, fan_out)
        for fan_in, fan_out, activation in zip(layer_sizes[:-1], layer_sizes[1:], activations)
    ]
