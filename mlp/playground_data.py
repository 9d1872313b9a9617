"""TensorFlow Playground datasets, following the playground's ``src/dataset.ts``.

Each generator mirrors one function there (named in its docstring) and returns
the points unshuffled, first class first; :func:`generate` shuffles them, as
the playground does, and expands them into the requested input features.
All randomness comes from one ``numpy.random.default_rng(seed)``, so a spec
always yields bit-identical arrays.
"""

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

DatasetKind = Literal["circle", "xor", "gauss", "spiral", "plane", "multigauss"]
FeatureName = Literal["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]
Task = Literal["classification", "regression"]


def _class_sizes(n_samples):
    """Split ``n_samples`` into (positive, negative) counts; positives get the odd one."""
    n_positive = (n_samples + 1) // 2
    return n_positive, n_samples - n_positive


def _circle(n_samples, noise, rng):
    """Disc of positives inside a ring of negatives (``classifyCircleData``)."""
    radius = 5.0
    radii = np.concatenate([
        rng.uniform(0.0, radius * 0.5, n) if positive else rng.uniform(radius * 0.7, radius, n)
        for positive, n in zip((True, False), _class_sizes(n_samples))
    ])
    angles = rng.uniform(0.0, 2 * np.pi, n_samples)
    points = np.column_stack([radii * np.sin(angles), radii * np.cos(angles)])
    # Noise moves only the point that is labelled, so the plotted point keeps its place
    # but may carry the other class's label.
    noisy = points + rng.uniform(-radius, radius, (n_samples, 2)) * noise
    targets = (np.hypot(noisy[:, 0], noisy[:, 1]) < radius * 0.5).astype(np.int64)
    return points, targets


def _xor(n_samples, noise, rng):
    """Quadrant checkerboard, coordinates pushed 0.3 off the axes (``classifyXORData``)."""
    padding = 0.3
    points = rng.uniform(-5.0, 5.0, (n_samples, 2))
    # The playground pads a coordinate of exactly 0 downwards (x > 0 ? +p : -p).
    points += np.where(points > 0, padding, -padding)
    noisy = points + rng.uniform(-5.0, 5.0, (n_samples, 2)) * noise
    targets = (noisy[:, 0] * noisy[:, 1] >= 0).astype(np.int64)
    return points, targets


def _gauss(n_samples, noise, rng):
    """Two isotropic gaussians at (2, 2) and (-2, -2) (``classifyTwoGaussData``)."""
    # d3.scale.linear().domain([0, .5]).range([0.5, 4]), unclamped; normalRandom
    # treats the result as a variance, hence the square root.
    variance = 0.5 + noise * (4.0 - 0.5) / 0.5
    sizes = _class_sizes(n_samples)
    centres = np.repeat([[2.0, 2.0], [-2.0, -2.0]], sizes, axis=0)
    points = centres + rng.normal(0.0, np.sqrt(variance), (n_samples, 2))
    targets = np.repeat(np.array([1, 0], dtype=np.int64), sizes)
    return points, targets


def _spiral(n_samples, noise, rng):
    """Two interleaved arms, r = 5 i / n, 1.75 turns each (``classifySpiralData``)."""
    arms = []
    for delta_angle, n_arm in zip((0.0, np.pi), _class_sizes(n_samples)):
        fraction = np.arange(n_arm) / n_arm
        angles = 1.75 * fraction * 2 * np.pi + delta_angle
        arms.append(5.0 * fraction[:, None] * np.column_stack([np.sin(angles), np.cos(angles)]))
    # Unlike the other shapes, spiral noise moves the coordinates themselves.
    points = np.concatenate(arms) + rng.uniform(-1.0, 1.0, (n_samples, 2)) * noise
    targets = np.repeat(np.array([1, 0], dtype=np.int64), _class_sizes(n_samples))
    return points, targets


def _plane(n_samples, noise, rng):
    """Target (x1 + x2) / 10, unclamped (``regressPlane``)."""
    radius = 6.0
    points = rng.uniform(-radius, radius, (n_samples, 2))
    noisy = points + rng.uniform(-radius, radius, (n_samples, 2)) * noise
    # labelScale maps [-10, 10] onto [-1, 1] without clamping.
    targets = noisy.sum(axis=1) / 10.0
    return points, targets


# (centre x, centre y, sign) of each bump in regressGaussian.
_BUMPS = np.array([
    [-4.0, 2.5, 1.0], [0.0, 2.5, -1.0], [4.0, 2.5, 1.0],
    [-4.0, -2.5, -1.0], [0.0, -2.5, 1.0], [4.0, -2.5, -1.0],
])


def _multigauss(n_samples, noise, rng):
    """Six signed cone-shaped bumps, strongest one wins (``regressGaussian``)."""
    radius = 6.0
    points = rng.uniform(-radius, radius, (n_samples, 2))
    noisy = points + rng.uniform(-radius, radius, (n_samples, 2)) * noise
    distances = np.hypot(noisy[:, None, 0] - _BUMPS[:, 0], noisy[:, None, 1] - _BUMPS[:, 1])
    # labelScale: domain [0, 2] -> range [1, 0], clamped.
    signed = _BUMPS[:, 2] * np.clip(1.0 - distances / 2.0, 0.0, 1.0)
    # argmax keeps the first of equal magnitudes, as the playground's strict '>' does.
    strongest = np.abs(signed).argmax(axis=1)
    targets = signed[np.arange(n_samples), strongest] + 0.0  # + 0.0 turns -0.0 into 0.0
    return points, targets


GENERATORS: dict[str, tuple[Callable, Task]] = {
    "circle": (_circle, "classification"),
    "xor": (_xor, "classification"),
    "gauss": (_gauss, "classification"),
    "spiral": (_spiral, "classification"),
    "plane": (_plane, "regression"),
    "multigauss": (_multigauss, "regression"),
}

FEATURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1,
    "x2^2": lambda x1, x2: x2 * x2,
    "x1*x2": lambda x1, x2: x1 * x2,
    "sin(x1)": lambda x1, x2: np.sin(x1),
    "sin(x2)": lambda x1, x2: np.sin(x2),
}

def expand_features(points, names):
    """Compute the playground's input features from raw points.

    Parameters
    ----------
    points : ndarray of shape (n_samples, 2)
        Raw (x1, x2) coordinates.
    names : sequence of str
        Keys of :data:`FEATURES`, in the column order wanted.

    Returns
    -------
    ndarray of shape (n_samples, len(names)), float64
    """
    x1, x2 = points[:, 0], points[:, 1]
    columns = [FEATURES[name](x1, x2) for name in names]
    return np.column_stack(columns).astype(np.float64, copy=False)


class GeneratorSpec(BaseModel):
    """Which playground dataset to draw, how much of it, and which input features."""

    model_config = ConfigDict(extra="forbid")

    kind: DatasetKind = Field(description="Playground shape; circle/xor/gauss/spiral "
                              "are binary classification, plane/multigauss regression.")
    n_samples: int = Field(500, ge=2, le=100_000, description="Number of rows returned.")
    noise: float = Field(0.0, ge=0.0, le=1.0, description="Playground noise level. The "
                         "playground's UI offers 0..0.5; up to 1 is accepted here.")
    seed: int = Field(0, ge=0, description="Seed for numpy.random.default_rng; same spec, same data.")
    features: list[FeatureName] = Field(default_factory=lambda: ["x1", "x2"], min_length=1,
                                        description="Input feature columns, in order, "
                                        "computed from the raw (x1, x2) points.")

    @field_validator("features")
    @classmethod
    def _no_duplicate_features(cls, features):
        duplicates = [name for name, count in Counter(features).items() if count > 1]
        if duplicates:
            raise ValueError(f"duplicate feature(s): {', '.join(duplicates)}")
        return features


@dataclass(frozen=True)
class GeneratedDataset:
    """A drawn dataset: model inputs, targets, and the raw points behind them.

    Attributes
    ----------
    features : ndarray of shape (n_samples, n_features), float64
    targets : ndarray of shape (n_samples,)
        int64 labels 1 (playground +1) / 0 (playground -1) for classification,
        float64 values for regression.
    task : {"classification", "regression"}
    feature_names : tuple of str, length n_features
    points : ndarray of shape (n_samples, 2), float64
        Raw (x1, x2) before expansion, for plotting.
    """

    features: np.ndarray
    targets: np.ndarray
    task: Task
    feature_names: tuple[str, ...]
    points: np.ndarray


def generate(spec: GeneratorSpec) -> GeneratedDataset:
    """Draw the dataset a spec describes, shuffled, with its features expanded."""
    generator, task = GENERATORS[spec.kind]
    rng = np.random.default_rng(spec.seed)
    points, targets = generator(spec.n_samples, spec.noise, rng)
    order = rng.permutation(spec.n_samples)
    points, targets = points[order], targets[order]
    return GeneratedDataset(
        features=expand_features(points, spec.features),
        targets=targets,
        task=task,
        feature_names=tuple(spec.features),
        points=points,
    )
