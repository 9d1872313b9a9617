"""Noticing that this worker is stopping, so its running job is handed back at the next epoch.

Two ways the news arrives, and :func:`requested` answers True after either:

* The worker's main process begins a warm shutdown (SIGTERM, Ctrl+C): Celery sends
  ``worker_shutting_down`` there and :func:`worker_shutting_down` sets a flag in memory shared
  with the pool children, which are forked from it after this module is imported. With
  ``--pool solo`` the job runs in the main process itself and reads the same flag.
* A prefork pool child gets SIGTERM itself, as from ``systemd`` (which signals the whole control
  group) or a ``kill`` of the process group. billiard's handler there exits on the spot; while a
  job runs, :func:`running_job` puts one in its place that lets the job stop at its next epoch.
  That is for the first SIGTERM only: a second one goes to billiard's handler, so Celery's cold
  shutdown (which terminates its children) still ends the child. Outside a job billiard's
  handler stays. (A cold shutdown that follows a warm one sent to the main process alone is the
  child's first SIGTERM, so it too waits for the epoch; Celery's hard shutdown does not.)

The flag lives in memory the pool children inherit across ``fork``, the start method of billiard
on Linux; a child started some other way would learn of a stop only from its own SIGTERM.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from contextlib import contextmanager
from typing import Iterator

from billiard.process import current_process

# Raw shared memory (no lock), so setting and reading it is safe inside a signal handler.
_worker_stopping = multiprocessing.RawValue(ctypes.c_bool, False)
# The SIGTERM handler a job's own replaces, and whether a SIGTERM came during the job.
_pool_sigterm_handler = signal.SIG_DFL
_sigterm_during_job = False


def requested() -> bool:
    """True once the running job should be handed back at its next epoch boundary."""
    return _worker_stopping.value or _sigterm_during_job


def worker_shutting_down() -> None:
    """Call on Celery's ``worker_shutting_down`` (main process): jobs here and in the pool stop."""
    _worker_stopping.value = True


@contextmanager
def running_job() -> Iterator[None]:
    """Run a job; in a pool child, its first SIGTERM meanwhile stops the job rather than the process.

    Installed per job, not once per child: billiard sets its own handler after the child's
    initialiser. The solo pool runs jobs in the main process, which keeps Celery's handler
    (it tells :func:`worker_shutting_down`); Celery tells the two apart by this name too.
    """
    global _pool_sigterm_handler, _sigterm_during_job
    if current_process().name == "MainProcess":
        yield
        return
    _pool_sigterm_handler = signal.signal(signal.SIGTERM, _stop_the_job) or signal.SIG_DFL
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, _pool_sigterm_handler)
        # That SIGTERM was answered by stopping the job; the pool ends the child when it stops.
        _sigterm_during_job = False


def _stop_the_job(signum: int, _frame) -> None:
    global _sigterm_during_job
    if not _sigterm_during_job:
        _sigterm_during_job = True
        return
    signal.signal(signum, _pool_sigterm_handler)
    os.kill(os.getpid(), signum)
