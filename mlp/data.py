"""From raw arrays to what training needs: checks, task, class encoding, split, standardisation.

Everything here runs once, before the first epoch, and raises :class:`DataError` naming the field
(``features`` or ``targets``) when the data cannot be trained on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .spec import DataShape, Task


class DataError(ValueError):
    """The data cannot be trained on; ``field`` is ``"features"`` or ``"targets"``."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def infer_task(targets: np.ndarray) -> Task:
    """Strings, booleans and integers are class labels; other numbers are regression targets."""
    return "regression" if targets.dtype.kind in "fc" else "classification"


def check_arrays(features, targets) -> tuple[np.ndarray, np.ndarray]:
    """Return ``features`` (n_samples, n_features) float64 and ``targets`` (n_samples,) or
    (n_samples, n_targets) as arrays, or raise :class:`DataError`."""
    try:
        features = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError("features", f"must be a rectangular array of numbers ({error})") from None
    if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] == 0:
        raise DataError("features", f"must be a non-empty 2-D array, got shape {features.shape}")
    if not np.isfinite(features).all():
        raise DataError("features", "contains NaN or infinite values")
    given = targets
    targets = np.asarray(targets)
    # NumPy turns [1, "a"] into ["1", "a"]; a mix of numbers and strings is a mistake, not labels.
    mixed = targets.dtype.kind in "US" and not isinstance(given, np.ndarray) and not all(
        isinstance(value, str) for value in given
    )
    if targets.dtype.kind == "O" or mixed:
        raise DataError("targets", "must be all numbers or all strings")
    if targets.ndim not in (1, 2) or len(targets) != len(features):
        raise DataError("targets", f"needs one entry per row of features ({len(features)}), got shape {targets.shape}")
    if targets.dtype.kind in "fc" and not np.isfinite(targets).all():
        raise DataError("targets", "contains NaN or infinite values")
    return features, targets


@dataclass(frozen=True)
class EncodedTargets:
    """Targets as the network sees them, plus the class labels they came from."""

    task: Task
    values: np.ndarray  # (n_samples,) class indices, or (n_samples, n_targets) regression values.
    classes: list | None  # Sorted original labels (str or int), None for regression.

    def shape(self, n_features: int) -> DataShape:
        """The network-relevant shape of this data with ``n_features`` inputs."""
        n_classes = None if self.classes is None else len(self.classes)
        n_targets = 1 if self.task == "classification" else self.values.shape[1]
        return DataShape(self.task, n_features, n_classes, n_targets)


def encode_targets(targets: np.ndarray, task: Task) -> EncodedTargets:
    """Map class labels to indices 0..n_classes-1 (sorted labels), or regression targets to 2-D."""
    if task == "regression":
        if targets.dtype.kind not in "iufcb":
            raise DataError("targets", "regression targets must be numbers")
        values = targets.astype(np.float64).reshape(len(targets), -1)
        return EncodedTargets(task, values, None)
    if targets.ndim != 1:
        raise DataError("targets", "class labels must be a 1-D array")
    if targets.dtype.kind == "f" and not np.array_equal(targets, np.round(targets)):
        raise DataError("targets", "class labels must be integers or strings")
    classes, indices = np.unique(targets, return_inverse=True)
    if len(classes) < 2:
        raise DataError("targets", f"classification needs at least 2 classes, got {len(classes)}")
    labels = [int(label) if targets.dtype.kind in "iufb" else str(label) for label in classes.tolist()]
    return EncodedTargets(task, indices.astype(np.int64), labels)


def split_indices(
    encoded: EncodedTargets, validation_split: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into (train, validation), each sorted.

    Classification splits every class separately (stratified), so each class keeps its share in
    both parts and keeps at least one training row. ``validation_split == 0`` gives an empty
    validation part.
    """
    n_samples = len(encoded.values)
    if validation_split == 0:
        return np.arange(n_samples), np.arange(0)
    rng = np.random.default_rng([seed, 0])
    groups = (
        [np.flatnonzero(encoded.values == index) for index in range(len(encoded.classes))]
        if encoded.task == "classification"
        else [np.arange(n_samples)]
    )
    train, validation = [], []
    for group in groups:
        shuffled = rng.permutation(group)
        n_validation = min(int(round(validation_split * len(group))), len(group) - 1)
        validation.append(shuffled[:n_validation])
        train.append(shuffled[n_validation:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(validation))


def standardisation(features: np.ndarray, enabled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per feature, each (n_features,); constant features keep std 1."""
    n_features = features.shape[1]
    if not enabled:
        return np.zeros(n_features), np.ones(n_features)
    mean = features.mean(axis=0)
    std = features.std(axis=0)
    std[std == 0] = 1.0
    return mean, std


def fingerprint(features: np.ndarray, encoded: EncodedTargets) -> str:
    """A short hash of the data, so a checkpoint refuses to resume on other data."""
    digest = hashlib.blake2b(digest_size=8)  # Fast, and hashing the buffers needs no copy.
    digest.update(np.ascontiguousarray(features))
    digest.update(np.ascontiguousarray(encoded.values))
    digest.update(repr(encoded.classes).encode())
    return digest.hexdigest()
