"""``GET /metrics`` in Prometheus' text format: job gauges read from the database at scrape time,
and the predict latency histogram this API observes.

Why the gauges come from the database: the API runs as several gunicorn processes and training
runs on other machines, so no process holds the counts; the database does, and one GROUP BY on
the indexed ``jobs.status`` answers each scrape, whichever process it reaches. The predict
histogram lives in the process that served the predict; with several gunicorn workers set
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode) so each scrape adds up all
of them. Epoch durations are the worker's to report (see ``worker.telemetry``).
"""

from __future__ import annotations

import logging
import os
from typing import Iterable, Iterator

import redis
from flask import Flask, Response
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from .app_state import app_state
from .database import utcnow
from .job_states import HELD_STATUSES, JOB_STATUSES
from .tables import Job
from .queue import TRAINING_QUEUE

log = logging.getLogger(__name__)

# Seconds a scrape may wait on Redis; a scrape must answer even when the broker is down.
BROKER_TIMEOUT = 0.5
# kombu's Redis transport keeps messages with priority p > 0 in the list "<queue>\x06\x16<p>".
REDIS_PRIORITY_SEPARATOR, REDIS_PRIORITY_STEPS = "\x06\x16", (3, 6, 9)
PREDICT_SECONDS = Histogram(
    "axon_predict_seconds", "Time to predict: model lookup (and load on a cache miss) and the forward pass.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class JobCollector:
    """Job gauges computed from the database (and the Redis broker) on each scrape.

    Each source that cannot be read is reported by its ``*_up`` gauge as 0 and its series are
    left out, so the scrape still answers.
    """

    def __init__(self, engine: Engine, broker_url: str):
        self.engine = engine
        self.broker_url = broker_url

    def collect(self) -> Iterator[Metric]:
        yield from self._database_metrics()
        if self.broker_url.startswith(("redis://", "rediss://")):
            yield from self._broker_metrics()

    def _database_metrics(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("axon_database_up", "1 when the database answered this scrape's queries, else 0.")
        try:
            with self.engine.connect() as connection:
                counts = dict(connection.execute(select(Job.status, func.count()).group_by(Job.status)).all())
                heartbeats = connection.execute(
                    select(Job.heartbeat_at).where(Job.status.in_(HELD_STATUSES))).scalars().all()
        except Exception as error:  # Any driver error means the same here: no database numbers.
            log.warning("metrics: the database did not answer: %s", error)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        jobs = GaugeMetricFamily("axon_jobs", "Jobs in each status.", labels=["status"])
        for status in JOB_STATUSES:
            jobs.add_metric([status], counts.get(status, 0))
        depth = GaugeMetricFamily("axon_queue_depth", "Jobs queued and not yet claimed by a worker.",
                                  counts.get("queued", 0))
        now = utcnow()
        # One number, not one series per job: /metrics needs no key, and job ids belong to tenants.
        ages = [(now - beat).total_seconds() for beat in heartbeats if beat is not None]
        oldest = GaugeMetricFamily("axon_heartbeat_max_age_seconds",
                                   "The oldest heartbeat among running jobs (0 when none run); above "
                                   "AXON_LEASE_SECONDS the job's worker is taken to be lost.",
                                   max(ages, default=0.0))
        return [up, jobs, depth, oldest]

    def _broker_metrics(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("axon_broker_up", "1 when the Redis broker answered this scrape, else 0.")
        keys = [TRAINING_QUEUE] + [f"{TRAINING_QUEUE}{REDIS_PRIORITY_SEPARATOR}{step}" for step in REDIS_PRIORITY_STEPS]
        try:
            with redis.Redis.from_url(self.broker_url, socket_timeout=BROKER_TIMEOUT,
                                      socket_connect_timeout=BROKER_TIMEOUT) as client:
                pipeline = client.pipeline(transaction=False)
                for key in keys:
                    pipeline.llen(key)
                length = sum(pipeline.execute())
        except redis.RedisError as error:
            log.warning("metrics: the broker did not answer: %s", error)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        messages = GaugeMetricFamily("axon_broker_queue_length",
                                     "Messages waiting in the broker's training queue.", length)
        return [up, messages]


class Scrape:
    """Several collectors read as one, for ``generate_latest``."""

    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def process_metrics() -> CollectorRegistry:
    """This process's own metrics, or in multiprocess mode every process's, added up."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def metrics_view() -> Response:
    """The Prometheus text exposition of every Axon series (not an /v1 operation: not in the API document)."""
    collector = app_state().job_collector
    return Response(generate_latest(Scrape(process_metrics(), collector)), mimetype=None,
                    content_type=CONTENT_TYPE_PLAIN_0_0_4)


def init_metrics(app: Flask) -> None:
    app.add_url_rule("/metrics", "metrics", metrics_view)
