"""Axon's Celery worker: thin tasks that take a job id and train it through the engine."""
