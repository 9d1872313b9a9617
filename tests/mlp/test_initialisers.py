"""Initialisation: every family draws weights and biases at its scale, deterministically, and a
symmetric playground shape no longer stalls (the outcome, checked against the data's labels)."""

import math

import numpy as np
import pytest

from mlp import fit
from mlp.playground_data import GeneratorSpec, generate
from mlp.initialisers import INITIALISERS, initial_parameters

from tests.support.specs import make_spec

# The std each family aims at for (fan_in, fan_out): uniform(±limit) has std limit / sqrt(3).
EXPECTED_STD = {
    "he_normal": lambda fan_in, fan_out: math.sqrt(2 / fan_in),
    "he_uniform": lambda fan_in, fan_out: math.sqrt(6 / fan_in) / math.sqrt(3),
    "glorot_normal": lambda fan_in, fan_out: math.sqrt(2 / (fan_in + fan_out)),
    "glorot_uniform": lambda fan_in, fan_out: math.sqrt(6 / (fan_in + fan_out)) / math.sqrt(3),
    "lecun_normal": lambda fan_in, fan_out: math.sqrt(1 / fan_in),
}


def test_every_family_is_checked():
    assert set(EXPECTED_STD) | {"playground"} == set(INITIALISERS)


def test_the_playground_start_is_its_own():
    """nn.ts: each link's weight is Math.random() - 0.5, each node's bias 0.1."""
    weights, biases = initial_parameters(np.random.default_rng(0), [300, 2000, 1], ["tanh", "linear"], "playground")
    assert -0.5 <= weights[0].min() < -0.49 and 0.49 < weights[0].max() <= 0.5
    assert weights[0].std() == pytest.approx(1 / math.sqrt(12), rel=0.02)
    assert all(np.array_equal(bias, np.full(bias.shape, 0.1)) for bias in biases)


@pytest.mark.parametrize("init", sorted(EXPECTED_STD))
def test_weights_and_biases_are_drawn_at_the_family_scale(init):
    fan_in, fan_out = 300, 2000  # Wide, so the biases alone give a sample std within ~4 %.
    weights, biases = initial_parameters(np.random.default_rng(0), [fan_in, fan_out], ["linear"], init)
    expected = EXPECTED_STD[init](fan_in, fan_out)
    assert weights[0].shape == (fan_in, fan_out) and biases[0].shape == (fan_out,)
    assert weights[0].std() == pytest.approx(expected, rel=0.02)
    assert biases[0].std() == pytest.approx(expected, rel=0.08)
    assert abs(biases[0].mean()) < 4 * expected / math.sqrt(fan_out)


def test_the_same_seed_draws_the_same_parameters():
    sizes, activations = [2, 16, 16, 1], ["tanh", "relu", "linear"]
    first = initial_parameters(np.random.default_rng([5, 3]), sizes, activations, "auto")
    second = initial_parameters(np.random.default_rng([5, 3]), sizes, activations, "auto")
    for a, b in zip([*first[0], *first[1]], [*second[0], *second[1]]):
        assert np.array_equal(a, b)


def test_a_fresh_network_starts_with_its_drawn_biases():
    spiral = generate(GeneratorSpec(kind="spiral", n_samples=100, noise=0.1, seed=1))
    result = fit(make_spec(epochs=1, optimizer={"name": "sgd", "learning_rate": 1e-12}), spiral.features, spiral.targets)
    network_biases = result.model.params[-(8 + 8 + 1):]
    assert np.count_nonzero(network_biases) == network_biases.size


@pytest.mark.parametrize("kind", ["spiral", "circle", "xor"])
def test_tanh_with_glorot_learns_a_symmetric_shape(kind):
    """The case that stalled with zero biases: 2-24-24-1 tanh, Glorot, Adam 0.01, batch 16, standardised
    inputs. On a shape symmetric under x -> -x an odd network with zero biases gets zero bias
    gradients; held-out accuracy was ~0.60 on the spiral, scikit-learn reaches 0.995."""
    train = generate(GeneratorSpec(kind=kind, n_samples=600, noise=0.1, seed=1))
    test = generate(GeneratorSpec(kind=kind, n_samples=2000, noise=0.1, seed=99))
    spec = make_spec(layers=[{"units": 24, "activation": "tanh"}] * 2, init="glorot_uniform", epochs=300,
                     batch_size=16, validation_split=0, optimizer={"name": "adam", "learning_rate": 0.01})
    model = fit(spec, train.features, train.targets).model
    accuracy = float((model.predict(test.features).predictions == test.targets).mean())
    assert accuracy >= 0.95, accuracy
