"""How many BLAS threads a training process uses: explicit, logged, and set through threadpoolctl.

A training step is mostly GEMMs, and NumPy's BLAS (OpenBLAS here) starts one thread per core by
default. That is right for one training process alone on a host (``axon serve``'s worker), and
wrong for several: N processes × all cores threads oversubscribe the cores, and a 2-thread BLAS
stalls at every parallel region whenever a core is taken (bench/blas_threads.py measures both).
So each process gets the usable cores divided by the training processes of its worker, unless
``AXON_BLAS_THREADS`` says otherwise, or OPENBLAS_NUM_THREADS (OMP_, MKL_) is set: then the BLAS
keeps what it read from it. A worker cannot see other worker commands on the same host:
whoever starts several sets ``AXON_BLAS_THREADS`` to cores / processes.
"""

from __future__ import annotations

import logging
import os

from threadpoolctl import threadpool_info, threadpool_limits

log = logging.getLogger(__name__)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # Not Linux.
        return os.cpu_count() or 1


# Variables the BLAS libraries read themselves at start: set, they are the operator's choice.
BLAS_ENVIRONMENT = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def blas_threads(setting: int, training_processes: int, cores: int, environ=os.environ) -> int | None:
    """The BLAS threads of one training process: ``setting`` if set (> 0); None (leave the BLAS as it
    started) when one of :data:`BLAS_ENVIRONMENT` is set; else an equal share of the cores."""
    if setting > 0:
        return setting
    if any(environ.get(name) for name in BLAS_ENVIRONMENT):
        return None
    return max(1, cores // max(1, training_processes))


def apply_blas_threads(threads: int | None) -> None:
    """Limit every BLAS (and OpenMP) pool in this process to ``threads`` for the rest of its life
    (None: as the environment set them); log what they are."""
    if threads is not None:
        threadpool_limits(limits=threads)
    pools = ", ".join(f"{pool['internal_api']} {pool['num_threads']}" for pool in threadpool_info()) or "none"
    chosen = "as the environment sets them" if threads is None else str(threads)
    log.info("BLAS threads per training process: %s (thread pools: %s)", chosen, pools)
