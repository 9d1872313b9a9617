"""Hidden-layer activations and their derivatives, as two tables of tiny in-place functions.

``ACTIVATIONS[name](z)`` overwrites the pre-activation ``z`` with the activation's output.
``DERIVATIVES[name](z, a, delta, scratch)`` multiplies ``delta`` in place by the activation's
derivative, written in terms of the output ``a`` wherever the output alone determines it (the way
scikit-learn's ``neural_network/_base.py`` does). ``z`` is the saved pre-activation and is only
kept (non-None) for the activations listed in ``NEEDS_PREACTIVATION``. ``scratch`` is a buffer
shaped like ``delta`` that the network allocates once: the derivative is built in it rather than
in fresh temporaries (tanh's ``1 - a * a`` took 2.4x as long through two of them on the wide
shape, see docs/benchmarks.md). Its contents on return are unspecified.

NumPy ufuncs are used throughout because CuPy arrays dispatch them to CuPy kernels
(``__array_ufunc__``), so one table serves both backends.
"""

from __future__ import annotations

import math

import numpy as np

LEAKY_RELU_SLOPE = 0.01  # PyTorch's LeakyReLU default negative_slope.
ELU_ALPHA = 1.0  # PyTorch's ELU default alpha.
GELU_C = math.sqrt(2.0 / math.pi)
GELU_K = 0.044715


def _identity(z):
    return z


def _identity_derivative(z, a, delta, scratch):
    return delta


def _relu(z):
    # Against a broadcast row of zeros NumPy takes its vectorised loop; a scalar 0 is ~3x slower.
    return np.maximum(z, np.zeros_like(z[:1]), out=z)


def _relu_derivative(z, a, delta, scratch):
    # a > 0 exactly where z > 0, so the output alone gives the derivative. Through a boolean
    # temporary: as fast as a float mask in scratch here (measured), and one pass fewer to write.
    return np.multiply(delta, a > 0, out=delta)


def _leaky_relu(z):
    return np.maximum(z, z * LEAKY_RELU_SLOPE, out=z)


# The derivatives below avoid np.where and where= masks, which are ~10x slower than arithmetic.
def _leaky_relu_derivative(z, a, delta, scratch):
    # slope + (1 - slope) * [a > 0]: 1 where active, slope elsewhere.
    slope = np.greater(a, 0, out=scratch)
    slope *= 1.0 - LEAKY_RELU_SLOPE
    slope += LEAKY_RELU_SLOPE
    return np.multiply(delta, slope, out=delta)


def _elu(z):
    # max(z, 0) + alpha (e^min(z, 0) - 1): each term is zero where the other applies.
    negative_part = np.minimum(z, 0)
    np.expm1(negative_part, out=negative_part)
    negative_part *= ELU_ALPHA
    _relu(z)
    z += negative_part
    return z


def _elu_derivative(z, a, delta, scratch):
    # For z <= 0, a = alpha (e^z - 1), so d a / d z = alpha e^z = a + alpha; for z > 0 it is 1,
    # and min(a, 0) + alpha is both at once (alpha = 1).
    slope = np.minimum(a, 0, out=scratch)
    slope += ELU_ALPHA
    return np.multiply(delta, slope, out=delta)


def _gelu_inner_tanh(z):
    return np.tanh(GELU_C * (z + GELU_K * z * z * z))


def _gelu(z):
    # The tanh approximation (PyTorch's GELU(approximate="tanh")): NumPy has no erf, and the
    # approximation differs from the exact form by < 1e-3.
    inner = _gelu_inner_tanh(z)
    inner += 1
    inner *= 0.5
    return np.multiply(z, inner, out=z)


def _gelu_derivative(z, a, delta, scratch):
    # GELU's output does not determine its input, hence the saved pre-activation z.
    t = _gelu_inner_tanh(z)
    slope = 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * GELU_C * (1 + 3 * GELU_K * z * z)
    return np.multiply(delta, slope, out=delta)


def _tanh(z):
    # NumPy's own: 0.35 ns an element in float32 here, faster than any exact form through exp or
    # expm1 (0.7-1.3 ns; bench/tanh.py), and within one float32 rounding of the float64 result.
    return np.tanh(z, out=z)


def _tanh_derivative(z, a, delta, scratch):
    slope = np.multiply(a, a, out=scratch)
    np.subtract(1, slope, out=slope)
    return np.multiply(delta, slope, out=delta)


def _sigmoid(z):
    # sigmoid(z) = (1 + tanh(z / 2)) / 2 never overflows, unlike 1 / (1 + exp(-z)).
    z *= 0.5
    np.tanh(z, out=z)
    z += 1
    z *= 0.5
    return z


def _sigmoid_derivative(z, a, delta, scratch):
    slope = np.subtract(1, a, out=scratch)
    slope *= a
    return np.multiply(delta, slope, out=delta)


def _softplus(z):
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|), finite for every z.
    tail = np.log1p(np.exp(-np.abs(z)))
    np.maximum(z, 0, out=z)
    z += tail
    return z


def _softplus_derivative(z, a, delta, scratch):
    # d softplus / dz = sigmoid(z) = 1 - e^(-a).
    slope = np.negative(a, out=scratch)
    np.expm1(slope, out=slope)
    np.negative(slope, out=slope)
    return np.multiply(delta, slope, out=delta)


ACTIVATIONS = {
    "linear": _identity,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "gelu": _gelu,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
}

DERIVATIVES = {
    "linear": _identity_derivative,
    "relu": _relu_derivative,
    "leaky_relu": _leaky_relu_derivative,
    "elu": _elu_derivative,
    "gelu": _gelu_derivative,
    "tanh": _tanh_derivative,
    "sigmoid": _sigmoid_derivative,
    "softplus": _softplus_derivative,
}

NEEDS_PREACTIVATION = frozenset({"gelu"})

# Which initialiser "init: auto" picks: He for the ReLU family, Glorot for the rest.
RELU_FAMILY = frozenset({"relu", "leaky_relu", "elu", "gelu", "softplus"})
