"""Spec factory and thread runner shared by the engine tests."""

import threading

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


def run_in_threads(work, n_threads: int) -> None:
    """Run ``work(thread_index)`` on ``n_threads`` threads at once and wait for them all."""
    threads = [threading.Thread(target=work, args=(index,)) for index in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
