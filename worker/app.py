"""The worker's entry point: ``celery -A worker.app worker``.

Builds the Flask app (settings, database, Celery), registers the tasks on its Celery instance
and, once the worker is ready, starts the periodic reconciler in the worker's main process.
When the worker begins to stop, its running job is handed back at the next epoch boundary
(see :mod:`worker.stopping`) and the reconciler stops, so the job goes to another worker.
"""

from celery.signals import worker_process_init, worker_ready, worker_shutdown, worker_shutting_down

from service import create_app
from worker import stopping
from worker.periodic import ReconcilerThread

flask_app = create_app()
celery_app = flask_app.extensions["celery"]

from worker import tasks  # noqa: E402,F401  (registers the tasks on celery_app)

reconciler_threads: list[ReconcilerThread] = []


@worker_ready.connect
def start_reconciler(**_) -> None:
    interval_seconds = flask_app.extensions["axon.settings"].reconcile_seconds
    if interval_seconds > 0:
        thread = ReconcilerThread(flask_app, interval_seconds)
        thread.start()
        reconciler_threads.append(thread)


@worker_shutting_down.connect
def hand_back_and_stop_reconciling(**_) -> None:
    # Runs inside Celery's signal handler: it only sets flags. A stopping worker publishes
    # nothing more, so the job it hands back goes to a worker that stays.
    stopping.worker_shutting_down()
    stop_reconciler()


@worker_shutdown.connect
def stop_reconciler(**_) -> None:
    for thread in reconciler_threads:
        thread.stop()


@worker_process_init.connect
def drop_inherited_connections(**_) -> None:
    # A forked pool process must not share the parent's database sockets; it opens its own.
    flask_app.extensions["axon.engine"].dispose(close=False)
