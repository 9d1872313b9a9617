"""The network specs the suites train: small and fast, on the CPU, each with what its suite needs."""

from __future__ import annotations

from mlp import GeneratorSpec, NetworkSpec, generate

# Two hidden layers, one with dropout: every part of the forward and backward pass is exercised.
TWO_LAYERS = [{"units": 8, "activation": "tanh"}, {"units": 8, "activation": "relu", "dropout": 0.1}]
# The engine's tests: twelve epochs of 16-row batches.
ENGINE_SPEC = {"layers": TWO_LAYERS, "epochs": 12, "batch_size": 16,
               "optimizer": {"name": "adam", "learning_rate": 0.01}, "device": "cpu"}
# The worker's tests: a job of eight epochs, its seed fixed so two runs can be compared.
JOB_SPEC = {**ENGINE_SPEC, "epochs": 8, "batch_size": 32, "seed": 7}
# The API's tests: one layer, three epochs; what the service stores is all that matters there.
SMALL_SPEC = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 3, "batch_size": 32, "device": "cpu"}


def make_spec(**overrides) -> NetworkSpec:
    """The engine tests' spec; keyword arguments override its fields."""
    return NetworkSpec.model_validate({**ENGINE_SPEC, **overrides})


def job_spec(**overrides) -> dict:
    """The worker tests' spec, normalised as the API stores it; keyword arguments override its fields."""
    return NetworkSpec.model_validate({**JOB_SPEC, **overrides}).model_dump(mode="json")


def spiral_arrays(n_samples: int = 200):
    """A playground spiral: (features (n_samples, 2), targets (n_samples,) in {0, 1})."""
    data = generate(GeneratorSpec(kind="spiral", n_samples=n_samples, noise=0.1, seed=1))
    return data.features, data.targets
