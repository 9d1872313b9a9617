"""The worker's entry point: ``celery -A worker.app worker``.

Builds the Flask app (settings, database, Celery) and registers the tasks on its Celery instance.
"""

from service import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]

from worker import tasks  # noqa: E402,F401  (registers the tasks on celery_app)
