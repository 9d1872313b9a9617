"""The array namespace: NumPy on the CPU, CuPy on a GPU, chosen once from the spec's ``device``."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np


class DeviceUnavailableError(RuntimeError):
    """``device: gpu`` was asked for but CuPy or a CUDA device is missing."""


@dataclass(frozen=True)
class Backend:
    """An array namespace and the few operations that differ between NumPy and CuPy.

    Everything inside the training loop goes through ``xp``; arrays reach the host only at the
    boundaries (metric scalars, checkpoints, artefacts) through :meth:`to_host`.
    """

    name: str
    xp: ModuleType

    def to_host(self, array) -> np.ndarray:
        """Return ``array`` as a NumPy array (a no-op on the CPU)."""
        return array if self.xp is np else self.xp.asnumpy(array)

    def to_device(self, array: np.ndarray, dtype=None):
        """Copy a host array to the device (a no-copy cast on the CPU when possible)."""
        return self.xp.asarray(array, dtype=dtype)

    def take_rows(self, source, indices, out):
        """Gather ``source[indices]`` into the preallocated ``out`` (no temporary copy)."""
        if self.xp is np:
            # mode="clip" skips NumPy's bounds-checked, buffered path; indices are always valid here.
            return np.take(source, indices, axis=0, out=out, mode="clip")
        return self.xp.take(source, indices, axis=0, out=out)

    def random_generator(self, seed_words: list[int]):
        """Return the device's random generator for one stream of ``seed_words``.

        Deriving a fresh generator per (seed, purpose, epoch) makes the random state at every epoch
        boundary a pure function of the seed, so a resumed run draws the same numbers as an
        uninterrupted one without serialising generator internals.
        """
        sequence = np.random.SeedSequence(seed_words)
        if self.xp is np:
            return np.random.Generator(np.random.PCG64(sequence))
        return self.xp.random.default_rng(int(sequence.generate_state(1, np.uint64)[0]))


CPU = Backend("cpu", np)


def _cupy_backend() -> Backend | None:
    """Return the CuPy backend when CuPy imports and sees a CUDA device, else None."""
    try:
        import cupy
    except ImportError:
        return None
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:  # CUDARuntimeError when the driver is absent: treat as "no GPU".
        return None
    return Backend("gpu", cupy)


def gpu_available() -> bool:
    """Whether ``device: gpu`` can run here."""
    return _cupy_backend() is not None


def get_backend(device: str) -> Backend:
    """Resolve ``"cpu"``, ``"gpu"`` or ``"auto"`` to a :class:`Backend`.

    Raises
    ------
    DeviceUnavailableError
        ``device`` is ``"gpu"`` and CuPy or a CUDA device is missing.
    """
    if device == "cpu":
        return CPU
    gpu = _cupy_backend()
    if gpu is not None:
        return gpu
    if device == "gpu":
        raise DeviceUnavailableError(
            "device 'gpu' needs CuPy and a CUDA device; install axon[gpu] on a GPU machine "
            "or use device 'cpu' or 'auto'"
        )
    return CPU
