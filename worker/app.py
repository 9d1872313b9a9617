"""The worker's entry point: ``celery -A worker.app worker``.

Builds the Flask app (settings, database, Celery), registers the tasks on its Celery instance
and, once the worker is ready, starts the periodic reconciler in the worker's main process.
When the worker begins to stop, its running job is handed back at the next epoch boundary
(see :mod:`worker.stopping`) and the reconciler stops, so the job goes to another worker.
"""

from celery.signals import (after_setup_logger, after_setup_task_logger, worker_init, worker_process_init,
                            worker_ready, worker_shutdown, worker_shutting_down)

from service.app_state import app_state
from service import create_app, logs
from service.settings import Settings
from worker import stopping, telemetry
from worker.blas_threads import apply_blas_threads, blas_threads, usable_cores
from worker.dataset_cache import DATASETS
from worker.periodic import ReconcilerThread

# Before create_app imports prometheus_client, which chooses its storage once, on import.
telemetry.share_metrics_between_processes(Settings().worker_metrics_port)
flask_app = create_app()
celery_app = flask_app.extensions["celery"]
# Celery sets up the worker's log handlers (its --logfile, its format); Axon only restyles them.
logs.remove_handler()

from worker import tasks  # noqa: E402,F401  (registers the tasks on celery_app)

reconciler_threads: list[ReconcilerThread] = []
chosen_blas_threads: list[int | None] = []  # Set in the main process, re-applied in each forked pool process.


@worker_init.connect
def size_dataset_cache(**_) -> None:
    DATASETS.resize(app_state(flask_app).settings.dataset_cache_bytes)


@worker_init.connect
def set_blas_threads(sender, **_) -> None:
    # The solo pool trains in this process; prefork in `concurrency` children (an int, or "auto").
    solo = "solo" in str(sender.pool_cls).lower()
    processes = 1 if solo else sender.concurrency if isinstance(sender.concurrency, int) else usable_cores()
    threads = blas_threads(app_state(flask_app).settings.blas_threads, processes, usable_cores())
    chosen_blas_threads[:] = [threads]
    apply_blas_threads(threads)


@worker_ready.connect
def start_reconciler(**_) -> None:
    interval_seconds = app_state(flask_app).settings.reconcile_seconds
    if interval_seconds > 0:
        thread = ReconcilerThread(flask_app, interval_seconds)
        thread.start()
        reconciler_threads.append(thread)


@worker_ready.connect
def start_metrics_server(**_) -> None:
    port = app_state(flask_app).settings.worker_metrics_port
    if port:
        telemetry.serve_metrics(port)


@after_setup_logger.connect
@after_setup_task_logger.connect
def use_axon_log_format(logger, **_) -> None:
    telemetry.restyle_celery_logging(logger, app_state(flask_app).settings.log_format)


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


@worker_shutdown.connect
def remove_metrics_dir(**_) -> None:
    telemetry.remove_metrics_dir()


@worker_process_init.connect
def drop_inherited_connections(**_) -> None:
    # A forked pool process must not share the parent's database sockets; it opens its own.
    app_state(flask_app).engine.dispose(close=False)
    if chosen_blas_threads and chosen_blas_threads[0] is not None:  # Fork carries the limit over on
        apply_blas_threads(chosen_blas_threads[0])  # some BLAS builds, not all: set it again.
