"""The input plane the dashboard's heatmaps span, for the boundary and the network view alike.

A dataset of two features spans the plane of those two. A dataset of the playground's features
(x1, x2, their squares, their product, their sines: mlp.playground_data.FEATURES) spans the plane of the
x1 and x2 they are computed from, whichever of them it holds: each grid point's features are
computed from its (x1, x2). Any other dataset has no plane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlp import FEATURES

# The grid reaches this share of each feature's range beyond the data, so edge points sit inside.
MARGIN = 0.05
# Without x1 and x2 among the features the data's range is unknown here: the playground's own.
PLAYGROUND_DOMAIN = (-6.0, 6.0)


@dataclass(frozen=True)
class Plane:
    """Two named axes, each (resolution,) coordinates, and how a dataset's rows map onto them."""

    x_name: str
    y_name: str
    x: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]

    @property
    def playground(self) -> bool:
        return all(name in FEATURES for name in self.feature_names) and len(self.feature_names) > 0

    def features(self) -> np.ndarray:
        """(len(y) * len(x), n_features) the model's inputs at each grid point, row-major from y[0]."""
        grid_x, grid_y = np.meshgrid(self.x, self.y)  # Row i holds y[i].
        if self.playground:
            return np.column_stack([FEATURES[name](grid_x.ravel(), grid_y.ravel()) for name in self.feature_names])
        return np.column_stack([grid_x.ravel(), grid_y.ravel()])

    def points(self, rows: np.ndarray) -> np.ndarray:
        """(n, 2) where dataset ``rows`` (n, n_features) sit on the plane; (0, 2) without x1 and x2 among them."""
        if not self.playground:
            return rows[:, :2]
        names = list(self.feature_names)
        if "x1" not in names or "x2" not in names:
            return np.empty((0, 2))
        return rows[:, [names.index("x1"), names.index("x2")]]


def input_plane(feature_names: list[str] | None, features: np.ndarray, resolution: int) -> Plane | str:
    """The plane of a dataset's ``features`` (n_samples, n_features) at ``resolution``, or why it has none."""
    n_features = features.shape[1]
    names = tuple(feature_names or [f"feature {index + 1}" for index in range(n_features)])
    if names and all(name in FEATURES for name in names):
        axes = [grid_axis(features[:, names.index(raw)], resolution) if raw in names
                else np.linspace(*PLAYGROUND_DOMAIN, resolution) for raw in ("x1", "x2")]
        return Plane("x1", "x2", axes[0], axes[1], names)
    if n_features == 2:
        return Plane(names[0], names[1], grid_axis(features[:, 0], resolution),
                     grid_axis(features[:, 1], resolution), names)
    return (f"this dataset has {n_features} features, and a plane needs 2 (or the playground's features "
            f"of x1 and x2)")


def grid_axis(values: np.ndarray, resolution: int) -> np.ndarray:
    """(resolution,) evenly spaced points over the range of ``values`` (n_samples,), with a margin."""
    low, high = float(values.min()), float(values.max())
    margin = (high - low) * MARGIN or 0.5  # A constant feature still gets a visible strip.
    return np.linspace(low - margin, high + margin, resolution)
