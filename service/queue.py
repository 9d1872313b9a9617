"""Celery wiring, the way Flask's own Celery pattern does it, and publishing jobs after commit.

The service publishes tasks by name, so it never imports the worker package: the arrows run
``mlp`` ← ``service`` ← ``worker``. A failed publish is logged and leaves the job ``queued``;
the reconciler (see ``worker.reconciler``) publishes it again.
"""

from __future__ import annotations

import logging

from celery import Celery, Task
from flask import Flask, current_app

from . import embedded_broker
from .settings import Settings

embedded_broker.install()  # Before any kombu connection: the SQLite broker is woken, not only polled.

log = logging.getLogger(__name__)

TRAIN_TASK = "axon.train"
RECONCILE_TASK = "axon.reconcile"
TRAINING_QUEUE = "training"
# One table says where every task goes.
TASK_ROUTES = {TRAIN_TASK: {"queue": TRAINING_QUEUE}, RECONCILE_TASK: {"queue": TRAINING_QUEUE}}
# Publishing must not hang a request when the broker is down: fail fast, the reconciler retries.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def celery_config(settings: Settings) -> dict:
    return {
        "broker_url": settings.resolved_broker_url,
        "task_ignore_result": True,
        "task_acks_late": True,  # A task killed mid-way is not acknowledged.
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # A worker holds one job at a time.
        "task_routes": TASK_ROUTES,
        "task_default_queue": TRAINING_QUEUE,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 2,
        "worker_hijack_root_logger": False,
        "broker_transport_options": broker_transport_options(settings.resolved_broker_url),
    }


def broker_transport_options(broker_url: str) -> dict:
    """Redis only: a message unacknowledged this long is delivered again. Longer than any lease,
    so redelivery never races a live worker; the reconciler covers crashes sooner. (kombu's
    SQLAlchemy transport would pass the option on to create_engine, which refuses it.)"""
    if broker_url.startswith(("redis://", "rediss://")):
        return {"visibility_timeout": 6 * 3600}
    return {}


def celery_init_app(app: Flask, settings: Settings) -> Celery:
    """Create the app's Celery instance; its tasks run inside the Flask app context."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(settings))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def publish_job(job_id: str, celery_app: Celery | None = None) -> bool:
    """Send ``job_id`` to the training queue; False (and a log line) when the broker is down.

    Call only after the job row has committed: the database is the source of truth, and a
    message for a row that does not exist yet would be dropped by the worker.
    """
    celery_app = celery_app or current_app.extensions["celery"]
    try:
        celery_app.send_task(TRAIN_TASK, args=[job_id], retry=True, retry_policy=PUBLISH_RETRY_POLICY)
    except Exception as error:  # kombu raises several types for "broker unreachable".
        log.warning("publish of job %s failed, the reconciler will retry: %s", job_id, error)
        return False
    embedded_broker.wake(celery_app.conf.broker_url)  # A hint only: the worker polls anyway.
    return True
