"""Observability in one call for the app factory: logging, request ids and the access log, /metrics.

Each part is its own module: :mod:`service.logs` (JSON or text lines with the job and request
ids), :mod:`service.access` (``X-Request-ID`` and one access line per request) and
:mod:`service.metrics` (``GET /metrics`` for Prometheus).
"""

from __future__ import annotations

from flask import Flask

from .access import init_access
from .logs import init_logging
from .metrics import init_metrics
from .settings import Settings


def init_observability(app: Flask, settings: Settings) -> None:
    init_logging(settings)
    init_access(app)
    init_metrics(app)
