"""How a dataset's arrays are stored: one compressed npz blob, never pickled.

``features`` is (n_samples, n_features) float64. ``targets`` is (n_samples,) int64 class indices
into the dataset's ``classes`` for classification, or (n_samples,) / (n_samples, n_targets)
float64 values for regression.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassLabels:
    """String class labels as a dataset stores them: ``classes``, the sorted distinct labels, and
    ``indices`` (n_samples,) int64, each row's index into them."""

    classes: list[str]
    indices: np.ndarray


# Deflate's fastest level: numpy's savez_compressed uses zlib's default (6), which took half of a
# CSV upload's time (bench/ingest.py) for a blob a few per cent smaller.
COMPRESS_LEVEL = 1


def encode_arrays(features: np.ndarray, targets: np.ndarray) -> tuple[bytes, str]:
    """Pack the arrays as a compressed npz (what ``np.load`` reads); returns (blob, sha256 hex of the blob)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for name, array in (("features", np.asarray(features, np.float64)), ("targets", np.asarray(targets))):
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    blob = buffer.getvalue()
    return blob, hashlib.sha256(blob).hexdigest()


def decode_arrays(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Unpack (features, targets) written by :func:`encode_arrays`."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        return archive["features"], archive["targets"]


def encode_labels(labels: list[str]) -> ClassLabels:
    """Each label's index among the sorted distinct labels.

    By dictionary, not through a NumPy array of the labels: that is fixed-width, so one long
    label would make every row as wide as it (1,000 rows of a 131,000-character label: 524 MB).
    Python and NumPy both order strings by code point, so these are the engine's classes.
    """
    classes = sorted(set(labels))
    index_of = {label: index for index, label in enumerate(classes)}
    return ClassLabels(classes, np.fromiter((index_of[label] for label in labels), dtype=np.int64, count=len(labels)))


def training_targets(targets: np.ndarray, classes: list | None) -> np.ndarray:
    """The targets to give the engine: original class labels, or the stored values.

    String labels go as NumPy's variable-width strings, so rows cost their own label's length,
    not the longest label's (fixed-width ``<U`` arrays pad every row to it, 4 bytes a character).
    """
    if classes is None:
        return targets
    if classes and isinstance(classes[0], str):
        return np.asarray(classes, dtype=np.dtypes.StringDType())[targets]
    return np.asarray(classes)[targets]
