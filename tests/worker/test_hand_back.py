"""A stopping worker hands its job back at an epoch boundary, without Celery, on SQLite and PostgreSQL."""

from __future__ import annotations

from service.app_state import app_state
from service.database import utcnow
from worker.reconciler import reconcile
from worker.runner import Outcome, run_job

from tests.support.rows import (
    add_dataset, add_job, checkpoint_epoch, job_row, metric_records, model_rows, set_job, without_seconds,
)

from .test_runner import weights


class StopSwitch:
    """Stands in for ``worker.stopping.requested``: off until the test flips it."""

    def __init__(self):
        self.on = False

    def __call__(self) -> bool:
        return self.on


def test_a_job_handed_back_twice_resumes_each_time_and_ends_as_if_uninterrupted(make_app, hook_epochs):
    # One attempt allowed, and checkpoints only at the end unless a hand-back asks for one.
    app = make_app(max_attempts=1, checkpoint_seconds=3600)
    engine = app_state(app).engine
    dataset_id = add_dataset(engine)
    uninterrupted_id, job_id = add_job(engine, dataset_id), add_job(engine, dataset_id)
    with app.app_context():
        assert run_job(uninterrupted_id) == Outcome.SUCCEEDED
    stop, trained = StopSwitch(), []

    def sigterm_during_epochs_3_and_6(record):
        trained.append(record["epoch"])
        stop.on = record["epoch"] in (3, 6)

    hook_epochs(before=sigterm_during_epochs_3_and_6)
    for handed_back_after, epochs_trained in [(3, [1, 2, 3]), (6, [4, 5, 6])]:
        set_job(engine, job_id, published_at=utcnow())
        trained.clear()
        with app.app_context():
            assert run_job(job_id, worker_stopping=stop) == Outcome.HANDED_BACK
        stop.on = False
        job = job_row(engine, job_id)
        assert (job.status, job.lease_token, job.published_at, job.attempts) == ("queued", None, None, 0)
        assert job.epoch == handed_back_after and checkpoint_epoch(engine, job_id) == handed_back_after
        assert trained == epochs_trained
        assert sorted(metric_records(engine, job_id)) == list(range(1, handed_back_after + 1))
        # Unpublished, so the next reconciler run sends it to a worker at once.
        published = []
        with app.app_context():
            reconcile(publish=lambda published_id: published.append(published_id) or True)
        assert job_id in published

    trained.clear()
    with app.app_context():
        assert run_job(job_id, worker_stopping=stop) == Outcome.SUCCEEDED

    assert trained == [7, 8]
    job = job_row(engine, job_id)
    assert (job.status, job.attempts, job.error_type) == ("succeeded", 1, None)
    expected = {epoch: without_seconds(record) for epoch, record in metric_records(engine, uninterrupted_id).items()}
    assert {epoch: without_seconds(record) for epoch, record in metric_records(engine, job_id).items()} == expected
    [uninterrupted_model], [resumed_model] = model_rows(engine, uninterrupted_id), model_rows(engine, job_id)
    assert weights(resumed_model) == weights(uninterrupted_model)


def test_a_stop_during_the_last_epoch_finishes_the_job(engine, hook_epochs):
    job_id = add_job(engine, add_dataset(engine))
    stop = StopSwitch()
    hook_epochs(before=lambda record: setattr(stop, "on", record["epoch"] == 8))

    assert run_job(job_id, worker_stopping=stop) == Outcome.SUCCEEDED

    job = job_row(engine, job_id)
    assert (job.status, job.epoch, job.attempts) == ("succeeded", 8, 1)
    assert len(model_rows(engine, job_id)) == 1


def test_a_cancel_that_landed_first_wins_over_the_hand_back(engine, hook_epochs):
    job_id = add_job(engine, add_dataset(engine))
    stop = StopSwitch()

    def cancel_and_stop_in_epoch_3(record):
        if record["epoch"] == 3:
            set_job(engine, job_id, status="cancelling")
            stop.on = True

    hook_epochs(before=cancel_and_stop_in_epoch_3)

    assert run_job(job_id, worker_stopping=stop) == Outcome.CANCELLED

    job = job_row(engine, job_id)
    assert (job.status, job.epoch, job.lease_token) == ("cancelled", 3, None)
    assert sorted(metric_records(engine, job_id)) == [1, 2, 3]


def test_a_stopping_worker_claims_nothing_and_leaves_the_job_to_be_sent_again(engine):
    job_id = add_job(engine, add_dataset(engine), published_at=utcnow())

    assert run_job(job_id, worker_stopping=lambda: True) == Outcome.HANDED_BACK

    job = job_row(engine, job_id)
    assert (job.status, job.attempts, job.lease_token, job.published_at, job.started_at) == (
        "queued", 0, None, None, None)
    assert metric_records(engine, job_id) == {}
