"""The Celery tasks: thin wrappers that hand a job id to the runner, and run the reconciler.

They run inside the Flask app context (see ``service.queue.celery_init_app``); acks_late and
prefetch 1 come from ``service.queue.celery_config``.
"""

from celery import shared_task

from service.queue import RECONCILE_TASK, TRAIN_TASK

from . import stopping
from .reconciler import reconcile
from .runner import run_job


@shared_task(name=TRAIN_TASK)
def train(job_id: str) -> str:
    """Claim and train ``job_id``; returns the outcome (see :class:`worker.runner.Outcome`)."""
    with stopping.running_job():
        return str(run_job(job_id))


@shared_task(name=RECONCILE_TASK)
def reconcile_jobs() -> None:
    """Republish stale jobs and close abandoned cancellations."""
    reconcile()
