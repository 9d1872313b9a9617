"""The datasets a worker process has decoded, kept by checksum so the next job on one skips the read.

A job's dataset is an npz blob in the database: reading it moves the whole blob over the
connection and decoding inflates it (20,000 × 64 float64: 10 MB, ~40 ms on SQLite and more on
PostgreSQL, before the first epoch). Jobs come in runs on one dataset (a sweep's trials, the
playground's retries), so each worker process keeps the arrays of the datasets it read last.

The key is the blob's sha256, stored with the row when the dataset was made: equal bytes decode
to equal arrays, so an entry can never be stale, and a deleted dataset is simply never asked for
again (the job's row lookup fails first) and ages out. Arrays are cached read-only: the engine
copies what it standardises, and a write anywhere else would raise rather than corrupt the next job.
Class labels are not part of the blob (it stores indices), so the caller applies them after.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

DEFAULT_MAX_BYTES = 512 * 2**20  # AXON_DATASET_CACHE_BYTES's default.


class DatasetCache:
    """Least recently used (features, targets) pairs by checksum, at most ``max_bytes`` of arrays.

    A dataset larger than the budget is not kept. Thread-safe: the solo and prefork pools train one
    job per process, but tests and the embedded worker may run jobs from several threads.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, checksum: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The arrays stored under ``checksum``, now the most recently used; None when absent."""
        with self._lock:
            arrays = self._entries.get(checksum)
            if arrays is None:
                self.misses += 1
                return None
            self._entries.move_to_end(checksum)
            self.hits += 1
            return arrays

    def put(self, checksum: str, features: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keep read-only views of ``features`` (n_samples, n_features) and ``targets`` (n_samples, ...)
        under ``checksum``, dropping the least recently used past the budget; returns the views."""
        features, targets = _read_only(features), _read_only(targets)
        size = features.nbytes + targets.nbytes
        with self._lock:
            if size > self.max_bytes or checksum in self._entries:
                return features, targets
            self._entries[checksum] = (features, targets)
            self._bytes += size
        self.resize(self.max_bytes)
        return features, targets

    def resize(self, max_bytes: int) -> None:
        """Keep at most ``max_bytes`` from now on (0: keep nothing), dropping the least recently used."""
        with self._lock:
            self.max_bytes = max_bytes
            while self._bytes > self.max_bytes:
                _, (old_features, old_targets) = self._entries.popitem(last=False)
                self._bytes -= old_features.nbytes + old_targets.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


# One per worker process: what a job read stays for the next job this process trains. The worker
# sizes it from AXON_DATASET_CACHE_BYTES when it starts (worker/app.py).
DATASETS = DatasetCache()
