"""Spec factory shared by the engine tests."""

from mlp import NetworkSpec


def make_spec(**overrides) -> NetworkSpec:
    """A small, fast CPU spec; keyword arguments override its fields."""
    fields = {
        "layers": [{"units": 8, "activation": "tanh"}, {"units": 8, "activation": "relu", "dropout": 0.1}],
        "epochs": 12,
        "batch_size": 16,
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "device": "cpu",
    }
    fields.update(overrides)
    return NetworkSpec.model_validate(fields)
