"""How a dataset's arrays are stored: one compressed npz blob, never pickled.

``features`` is (n_samples, n_features) float64. ``targets`` is (n_samples,) int64 class indices
into the dataset's ``classes`` for classification, or (n_samples,) / (n_samples, n_targets)
float64 values for regression.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np


def encode_arrays(features: np.ndarray, targets: np.ndarray) -> tuple[bytes, str]:
    """Pack the arrays; returns (blob, sha256 hex of the blob)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, features=np.asarray(features, np.float64), targets=np.asarray(targets))
    blob = buffer.getvalue()
    return blob, hashlib.sha256(blob).hexdigest()


def decode_arrays(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Unpack (features, targets) written by :func:`encode_arrays`."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        return archive["features"], archive["targets"]


def training_targets(targets: np.ndarray, classes: list | None) -> np.ndarray:
    """The targets to give the engine: original class labels, or the stored values."""
    if classes is None:
        return targets
    return np.asarray(classes)[targets]
