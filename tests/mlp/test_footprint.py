"""The training-footprint estimate against what training really allocates, and against hand counts.

NumPy reports its allocations to tracemalloc, so the traced peak of preparing the data, building
the state, one epoch and one checkpoint is what the engine really held; the caller's float64
inputs, made before tracing, are added to it as the estimate counts them.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from mlp import NetworkSpec
from mlp.checkpoint import save_checkpoint
from mlp.footprint import estimate_footprint, split_sizes
from mlp.spec import DataShape
from mlp.state import TrainingState, start
from mlp.training import run_epochs
from tests.support.isolation import import_with_blocked

# The estimate may be this much under or over the measured peak.
UNDER, OVER = 0.10, 0.20


def layers(count: int, units: int, activation: str = "relu", dropout: float = 0.0) -> list[dict]:
    return [{"units": units, "activation": activation, "dropout": dropout}] * count


CASES = {
    "relu-adam": ({"layers": layers(3, 256), "batch_size": 1024}, 8000, 40, 10),
    "gelu": ({"layers": layers(2, 256, "gelu"), "batch_size": 2048}, 8000, 40, 10),
    "tanh-dropout-sgd": ({"layers": layers(3, 384, "tanh", 0.3), "batch_size": 4096, "optimizer": "sgd"}, 8000, 40, 2),
    "softplus-float64-small-batches": ({"layers": layers(2, 128, "softplus"), "batch_size": 32, "dtype": "float64"},
                                       8000, 100, 5),
    "elu-centred-rmsprop-no-validation": ({"layers": layers(2, 768, "elu"), "batch_size": 8192, "validation_split": 0,
                                           "optimizer": {"name": "rmsprop", "centered": True}}, 8000, 20, 3),
    "regression-huber-l2": ({"layers": layers(2, 64, "sigmoid"), "batch_size": 64, "loss": "huber", "l2": 0.01},
                            20000, 100, None),
    "wide-early-stopping-clipped": ({"layers": layers(1, 2048, "leaky_relu"), "batch_size": 512,
                                     "early_stopping": {"monitor": "val_loss", "patience": 3},
                                     "optimizer": {"name": "adam", "clip_norm": 1.0}}, 4000, 784, 10),
    "deep-momentum-float64": ({"layers": layers(6, 300, "relu", 0.5), "batch_size": 1000, "optimizer": "momentum",
                               "dtype": "float64"}, 6000, 30, 2),
    "no-hidden-layers": ({"layers": [], "batch_size": 128}, 20000, 30, 7),
}


def measured_training(spec: NetworkSpec, features: np.ndarray, targets: np.ndarray, task: str):
    """(peak bytes of preparing, building the state, one epoch and one checkpoint; the checkpoint; the bound spec)."""
    tracemalloc.start()
    try:
        data, backend = start(spec, features, targets, task)
        state = TrainingState.fresh(data, backend)
        next(run_epochs(state))
        checkpoint = save_checkpoint(state)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, checkpoint, data.spec


@pytest.mark.parametrize("case", CASES)
def test_estimate_is_within_tolerance_of_the_measured_peak(case):
    spec_fields, n_samples, n_features, n_classes = CASES[case]
    rng = np.random.default_rng(0)
    features = rng.normal(size=(n_samples, n_features))
    task = "regression" if n_classes is None else "classification"
    targets = rng.normal(size=n_samples) if n_classes is None else rng.integers(0, n_classes, size=n_samples)
    spec = NetworkSpec.model_validate({"device": "cpu", "epochs": 1, **spec_fields})
    peak, checkpoint, bound = measured_training(spec, features, targets, task)
    measured = peak + features.nbytes + targets.nbytes

    estimate = estimate_footprint(bound, DataShape(task, n_features, n_classes, 1), n_samples)

    assert (1 - UNDER) * measured <= estimate.training_bytes <= (1 + OVER) * measured, (
        f"estimate {estimate.training_bytes / 2**20:.1f} MiB, measured {measured / 2**20:.1f} MiB")
    assert abs(estimate.checkpoint_bytes - len(checkpoint)) <= 1024


def test_the_issue_spec_needs_over_13_gb():
    """32 x 780 ReLU units, batch 65,536 on 70,000 MNIST-shaped rows (every field within its limit):
    the issue saw ~13 GB and OOM-killed workers."""
    spec = NetworkSpec.model_validate({"layers": layers(32, 780), "batch_size": 65536})
    estimate = estimate_footprint(spec, DataShape("classification", 784, 10), 70_000)
    n_train, _ = split_sizes(70_000, 0.1, 10)
    # Per training row: every layer's float32 output, every hidden layer's delta, the derivatives'
    # scratch (one hidden layer wide) and the bias gradients' one.
    assert estimate.parts["batch"] == n_train * (32 * 780 + 10 + 32 * 780 + 780 + 1) * 4
    assert 13e9 < estimate.training_bytes < 15e9


def test_flops_and_parameters_match_a_hand_count():
    """A 2-3-1 network on 10 training rows: per row the forward products cost 2(2*3 + 3*1) = 18, the
    weight gradients 18 more, the delta through the output layer 2*3*1 = 6 (none below the first)."""
    spec = NetworkSpec.model_validate({"layers": [{"units": 3}], "validation_split": 0})
    estimate = estimate_footprint(spec, DataShape("regression", 2, None, 1), 10)
    assert estimate.parameters == 2 * 3 + 3 + 3 * 1 + 1
    assert estimate.flops_per_epoch == 10 * (18 + 18 + 6)
    with_validation = estimate_footprint(spec.model_copy(update={"validation_split": 0.2}),
                                         DataShape("regression", 2, None, 1), 10)
    assert with_validation.flops_per_epoch == 8 * 42 + 2 * 18  # Validation rows run forward only.


def test_the_split_keeps_a_training_row_per_class():
    assert split_sizes(1000, 0.1, 10) == (900, 100)
    assert split_sizes(4, 0.9, 3) == (3, 1)
    assert split_sizes(50, 0.0, None) == (50, 0)


def test_the_estimate_imports_without_service_frameworks():
    completed = import_with_blocked("import mlp.footprint", ("flask", "celery", "sqlalchemy", "kombu", "redis"))
    assert completed.returncode == 0, completed.stderr
