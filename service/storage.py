"""How a dataset's arrays are stored: an npz (what ``np.load`` reads) compressed with zstd, never pickled.

``features`` is (n_samples, n_features) float64. ``targets`` is (n_samples,) int64 class indices
into the dataset's ``classes`` for classification, or (n_samples,) / (n_samples, n_targets)
float64 values for regression.

The npz's members are stored, and the whole blob is one zstd frame: zstd's fastest level packs
a CSV upload's coded columns several times as fast as deflate's fastest (zipfile's), and smaller
(bench/ingest.py). Blobs written before (a deflated npz, ``PK`` first) are read as they are.
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


ZSTD_LEVEL = 1  # Its fastest regular level; past it, time grows faster than the blob shrinks.
# On every core: a third faster on two (51 MB of coded columns: 0.072 s against 0.113 s).
ZSTD_THREADS = -1
ZIP_MAGIC = b"PK"


def encode_arrays(features: np.ndarray, targets: np.ndarray) -> tuple[bytes, str]:
    """Pack the arrays as a zstd-compressed npz; returns (blob, sha256 hex of the blob).

    The npz streams through the compressor: no uncompressed copy of the arrays is made.
    """
    import zstandard  # Only processes that store datasets (the API) or read them load it.

    buffer = io.BytesIO()
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=ZSTD_THREADS)
    with compressor.stream_writer(buffer, closefd=False) as compressed, \
            zipfile.ZipFile(_WriteOnly(compressed), "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in (("features", np.asarray(features, np.float64)), ("targets", np.asarray(targets))):
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    blob = buffer.getvalue()
    return blob, hashlib.sha256(blob).hexdigest()


class _WriteOnly:
    """The compressor's writer without its ``tell``, which counts compressed bytes: zipfile then
    counts the bytes it writes itself, the offsets its directory needs."""

    def __init__(self, sink):
        self.write, self.flush = sink.write, sink.flush


def decode_arrays(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Unpack (features, targets) written by :func:`encode_arrays` (or, before it, a deflated npz)."""
    if not blob.startswith(ZIP_MAGIC):
        import zstandard

        blob = zstandard.ZstdDecompressor().decompressobj().decompress(blob)
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
