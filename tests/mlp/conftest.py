"""Small shared data for the engine tests."""

import numpy as np
import pytest

from mlp.playground_data import GeneratorSpec, generate


@pytest.fixture(scope="session")
def spiral():
    """(features (300, 2), targets (300,)) of the playground spiral."""
    data = generate(GeneratorSpec(kind="spiral", n_samples=300, noise=0.1, seed=1))
    return data.features, data.targets


@pytest.fixture(scope="session")
def blobs():
    """Three separable gaussian classes with string labels: (features (240, 4), targets (240,))."""
    rng = np.random.default_rng(7)
    centres = np.array([[0, 0, 0, 0], [4, 4, 0, 0], [0, 4, 4, 0]], dtype=float)
    labels = np.repeat(np.array(["cat", "dog", "eel"]), 80)
    features = centres[np.repeat(np.arange(3), 80)] + rng.normal(size=(240, 4))
    return features, labels
