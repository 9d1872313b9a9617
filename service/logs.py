"""Log lines as JSON (or plain text), each carrying the job id and the request id where there is one.

The API gets one handler on the root logger (:func:`init_logging`); the worker keeps Celery's
handlers and gives them this module's formatter and filter (see ``worker.telemetry``). The job id comes from
:data:`current_job_id` (the worker sets it around a job's run) or, in the API, from the route's
``job_id``; the request id from :mod:`service.access`.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import IO, Iterator

from flask import g, has_request_context, request

from .settings import Settings

# Set while a worker runs a job, so every line it logs (from any module) names the job.
current_job_id: ContextVar[str | None] = ContextVar("axon_job_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged.
STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
CONTEXT_FIELDS = ("job_id", "request_id")


@contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Name ``job_id`` in every line logged inside the block (this thread or task only)."""
    token = current_job_id.set(job_id)
    try:
        yield
    finally:
        current_job_id.reset(token)


class ContextFilter(logging.Filter):
    """Adds ``job_id`` and ``request_id`` to each record (None where there is none); drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        job_id, request_id = current_job_id.get(), None
        if has_request_context():
            request_id = g.get("request_id")
            job_id = job_id or (request.view_args or {}).get("job_id")
        for name, value in zip(CONTEXT_FIELDS, (job_id, request_id)):
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the context ids
    when set, any ``extra=`` fields, and the traceback as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in STANDARD_ATTRIBUTES and value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``AXON_LOG_FORMAT`` (``json`` or ``text``)."""
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def make_handler(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler (stderr by default) writing ``log_format`` lines with the context ids."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(ContextFilter())
    handler.axon = True  # Marks the handler as ours, so building another app replaces it.
    return handler


def init_logging(settings: Settings) -> None:
    """Give the root logger Axon's handler and level, unless something else configured logging.

    Under gunicorn nothing has, and the app's lines (access lines included) would otherwise go
    nowhere; under pytest, or an app that embeds Axon, the existing handlers are left alone.
    """
    root = logging.getLogger()
    if any(not getattr(handler, "axon", False) for handler in root.handlers):
        return
    remove_handler()
    root.addHandler(make_handler(settings.log_format))
    root.setLevel(settings.log_level)


def remove_handler() -> None:
    """Take Axon's handler off the root logger (the worker leaves its handlers to Celery)."""
    root = logging.getLogger()
    for handler in [handler for handler in root.handlers if getattr(handler, "axon", False)]:
        root.removeHandler(handler)
