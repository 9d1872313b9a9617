"""The worker's observability: its own ``/metrics`` (epoch durations), its log format, the job id in its lines.

Epoch durations are observed where the epochs run, in the worker, and served by the worker's
main process on ``AXON_WORKER_METRICS_PORT`` (0: off) for Prometheus to scrape each worker. The
API's ``/metrics`` does not report them: reading them back from ``epoch_metrics`` would mean
scanning a table that grows without bound. A prefork worker trains in child processes, so when
the port is set the worker uses prometheus_client's multiprocess mode over a folder of its own;
prometheus_client picks that mode once, on import, hence the care below to import it late.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import shutil
import tempfile
import threading
from typing import TYPE_CHECKING, Callable, TypeVar

from service.logs import ContextFilter, formatter, job_context

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# An epoch takes from well under a millisecond (tiny nets) to minutes (large ones on a CPU).
EPOCH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                 60.0, 300.0)

log = logging.getLogger(__name__)
Result = TypeVar("Result")
# The folder this process made for multiprocess mode, removed when the worker shuts down.
owned_metrics_dir: list[str] = []


def share_metrics_between_processes(port: int) -> None:
    """With a metrics port, point prometheus_client at a fresh folder that the pool's children share.

    Call before anything imports prometheus_client. A folder someone set already is used as is.
    """
    if port and MULTIPROC_ENV not in os.environ:
        folder = tempfile.mkdtemp(prefix="axon-worker-metrics-")
        os.environ[MULTIPROC_ENV] = folder
        owned_metrics_dir.append(folder)


def serve_metrics(port: int) -> WSGIServer | None:
    """Serve every process's metrics on ``port`` (all interfaces) from a daemon thread; the server,
    or None when the port is taken (the worker still trains, without metrics)."""
    from prometheus_client import start_http_server

    from service.metrics import process_metrics

    try:
        server, _thread = start_http_server(port, registry=process_metrics())
    except OSError as error:
        log.error("worker metrics: cannot listen on port %d: %s", port, error)
        return None
    log.info("worker metrics on port %d", server.server_port)
    return server


def remove_metrics_dir() -> None:
    for folder in owned_metrics_dir:
        shutil.rmtree(folder, ignore_errors=True)
    owned_metrics_dir.clear()


@functools.cache
def epoch_seconds():
    """The epoch duration histogram, made on first use (so after the multiprocess choice)."""
    from prometheus_client import Histogram

    return Histogram("axon_epoch_seconds", "Time the engine took for one training epoch (the record's `seconds`).",
                     buckets=EPOCH_BUCKETS)


def observe_epoch(record: dict) -> None:
    """Count one epoch's duration, from the engine's per-epoch record."""
    epoch_seconds().observe(record["seconds"])


def logs_job_id(run: Callable[..., Result]) -> Callable[..., Result]:
    """Decorate ``run(job_id, ...)`` so every line logged while it runs names the job."""

    @functools.wraps(run)
    def wrapped(job_id: str, *args, **kwargs) -> Result:
        with job_context(job_id):
            return run(job_id, *args, **kwargs)

    return wrapped


def start_in_this_context(thread: threading.Thread) -> None:
    """Start ``thread`` in a copy of the caller's context: a new thread would start without the job id."""
    context = contextvars.copy_context()
    run = thread.run
    thread.run = lambda: context.run(run)
    thread.start()


def restyle_celery_logging(logger: logging.Logger, log_format: str) -> None:
    """Give the handlers Celery set up ``AXON_LOG_FORMAT`` lines with the job id.

    Text keeps Celery's own format, which people and the test suites read; JSON replaces it.
    """
    for handler in logger.handlers:
        if log_format == "json":
            handler.setFormatter(formatter("json"))
        if not any(isinstance(existing, ContextFilter) for existing in handler.filters):
            handler.addFilter(ContextFilter())
