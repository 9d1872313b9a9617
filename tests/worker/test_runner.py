"""run_job without Celery, on SQLite and PostgreSQL: claim, per-epoch writes, resume, outcomes."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy import update

import mlp
from mlp import Model
from service.app_state import app_state
from worker.claim import claim_job
from worker.runner import Outcome, run_job

from tests.support.rows import (
    add_dataset, add_job, backdate, checkpoint_epoch, count_jobs, epoch_metrics, job_row, metric_records,
    model_rows, set_job, without_seconds,
)
from tests.support.specs import job_spec, spiral_arrays


def weights(model_row) -> bytes:
    """The trained parameters in a stored model artefact."""
    return Model.from_bytes(model_row.artefact).params.tobytes()


def test_job_succeeds_with_one_metrics_row_per_epoch_and_a_model(engine):
    job_id = add_job(engine, add_dataset(engine))

    assert run_job(job_id) == Outcome.SUCCEEDED

    job = job_row(engine, job_id)
    assert (job.status, job.epoch, job.attempts, job.error_type, job.lease_token) == ("succeeded", 8, 1, None, None)
    assert job.started_at <= job.finished_at and job.train_seconds > 0
    records = metric_records(engine, job_id)
    assert sorted(records) == list(range(1, 9))
    assert job.metrics == records[8]
    [model] = model_rows(engine, job_id)
    assert model.id == job.model_id
    assert (model.task, model.n_features, model.classes, model.metrics) == ("classification", 2, [0, 1], records[8])
    assert checkpoint_epoch(engine, job_id) is None  # The model supersedes it.
    # The service adds nothing to training: the stored weights are the engine's own.
    features, targets = spiral_arrays()
    direct = mlp.fit(mlp.NetworkSpec.model_validate(job_spec()), features, targets, task="classification")
    stored = Model.from_bytes(model.artefact)
    assert stored.params.tobytes() == direct.model.params.tobytes()
    assert set(stored.predict(features[:5]).predictions) <= {0, 1}


def test_a_finished_job_is_not_trained_again(engine):
    job_id = add_job(engine, add_dataset(engine))
    assert run_job(job_id) == Outcome.SUCCEEDED
    before = job_row(engine, job_id)

    assert run_job(job_id) == Outcome.NOT_CLAIMED
    assert job_row(engine, job_id) == before
    assert len(model_rows(engine, job_id)) == 1


def test_an_unknown_job_is_dropped_without_writing(engine):
    n_jobs = count_jobs(engine)
    assert run_job("f" * 32) == Outcome.UNKNOWN
    assert count_jobs(engine) == n_jobs


def test_two_racing_claims_have_one_winner_and_the_loser_writes_nothing(engine, app):
    job_id = add_job(engine, add_dataset(engine))
    start_together = threading.Barrier(2)
    claims = []

    def claim():
        with engine.connect() as connection:
            start_together.wait()
            with connection.begin():
                claims.append(claim_job(connection, job_id, lease_seconds=60))

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    [winner] = [claim for claim in claims if claim is not None]
    assert claims.count(None) == 1
    held = job_row(engine, job_id)
    assert (held.status, held.attempts, held.lease_token) == ("running", 1, winner.lease_token)
    # A third delivery of the message finds the job held by a live worker and leaves it alone.
    assert run_job(job_id) == Outcome.NOT_CLAIMED
    assert job_row(engine, job_id) == held
    assert metric_records(engine, job_id) == {}


@pytest.mark.parametrize("takeover", ["before_epoch_3", "after_last_epoch"])
def test_a_worker_whose_lease_was_taken_over_writes_nothing_more(make_app, hook_epochs, takeover):
    app = make_app(checkpoint_seconds=0)
    engine = app_state(app).engine
    job_id = add_job(engine, add_dataset(engine))
    successor = {}

    def take_over(record):
        # The first worker looks dead: its heartbeat is stale, and a second one claims the job.
        backdate(engine, job_id, "heartbeat_at", 3600)
        with engine.begin() as connection:
            successor["claim"] = claim_job(connection, job_id, lease_seconds=60)

    if takeover == "before_epoch_3":
        hook_epochs(before=lambda record: record["epoch"] == 3 and take_over(record))
    else:
        hook_epochs(after=lambda record: record["epoch"] == 8 and take_over(record))

    with app.app_context():
        assert run_job(job_id) == Outcome.LEASE_LOST

    job = job_row(engine, job_id)
    assert (job.status, job.lease_token, job.attempts) == ("running", successor["claim"].lease_token, 2)
    assert job.finished_at is None and job.model_id is None and model_rows(engine, job_id) == []
    written = 2 if takeover == "before_epoch_3" else 8
    assert sorted(metric_records(engine, job_id)) == list(range(1, written + 1))
    # checkpoint_seconds=0 checkpoints every epoch but the last, which the model would replace.
    assert job.epoch == written and checkpoint_epoch(engine, job_id) == min(written, 7)


def test_resume_after_a_crash_ends_identical_to_an_uninterrupted_run(make_app, hook_epochs, clock):
    # Checkpoints every 2.5 fake seconds at one second per epoch: after epochs 3 and 6 (and 8).
    app = make_app(checkpoint_seconds=2.5, lease_seconds=60)
    engine = app_state(app).engine
    dataset_id = add_dataset(engine)
    uninterrupted_id = add_job(engine, dataset_id)
    crashing_id = add_job(engine, dataset_id)
    with app.app_context():
        assert run_job(uninterrupted_id) == Outcome.SUCCEEDED

    def tick(record):
        clock.now += 1.0

    def crash_after_epoch_5(record):
        if record["epoch"] == 5:
            raise RuntimeError("worker killed")

    hook_epochs(before=tick, after=crash_after_epoch_5)
    with app.app_context():
        assert run_job(crashing_id, clock=clock) == Outcome.RETRY
    crashed = job_row(engine, crashing_id)
    assert (crashed.status, crashed.epoch, crashed.attempts, crashed.train_seconds) == ("running", 5, 1, 5.0)
    assert checkpoint_epoch(engine, crashing_id) == 3
    assert sorted(metric_records(engine, crashing_id)) == [1, 2, 3, 4, 5]
    # Spoil the rows after the checkpoint: the resumed run must recompute and overwrite them.
    with engine.begin() as connection:
        connection.execute(update(epoch_metrics).where(
            epoch_metrics.c.job_id == crashing_id, epoch_metrics.c.epoch > 3).values(record={"spoilt": True}))

    hook_epochs(before=tick)
    with app.app_context():
        assert run_job(crashing_id, clock=clock) == Outcome.NOT_CLAIMED  # Its lease has not expired yet.
        backdate(engine, crashing_id, "heartbeat_at", 61)
        assert run_job(crashing_id, clock=clock) == Outcome.SUCCEEDED

    resumed = job_row(engine, crashing_id)
    assert (resumed.status, resumed.attempts) == ("succeeded", 2)
    assert resumed.train_seconds == 10.0  # 5 epochs before the crash, 5 recomputed after epoch 3.
    expected = {epoch: without_seconds(record) for epoch, record in metric_records(engine, uninterrupted_id).items()}
    assert {epoch: without_seconds(record) for epoch, record in metric_records(engine, crashing_id).items()} == expected
    [uninterrupted_model] = model_rows(engine, uninterrupted_id)
    [resumed_model] = model_rows(engine, crashing_id)
    assert weights(resumed_model) == weights(uninterrupted_model)


def test_a_crash_between_the_last_epoch_and_the_model_trains_the_last_epoch_again(make_app, hook_epochs):
    app = make_app(checkpoint_seconds=0)
    engine = app_state(app).engine
    dataset_id = add_dataset(engine)
    uninterrupted_id, crashing_id = add_job(engine, dataset_id), add_job(engine, dataset_id)
    with app.app_context():
        assert run_job(uninterrupted_id) == Outcome.SUCCEEDED

    def crash_after_epoch_8(record):
        if record["epoch"] == 8:
            raise RuntimeError("worker killed")

    hook_epochs(after=crash_after_epoch_8)
    with app.app_context():
        assert run_job(crashing_id) == Outcome.RETRY
    # The model replaces a checkpoint at once, so the last epoch writes none.
    assert checkpoint_epoch(engine, crashing_id) == 7
    trained_again = []
    hook_epochs(before=lambda record: trained_again.append(record["epoch"]))
    backdate(engine, crashing_id, "heartbeat_at", 3600)

    with app.app_context():
        assert run_job(crashing_id) == Outcome.SUCCEEDED

    assert trained_again == [8]
    [uninterrupted_model] = model_rows(engine, uninterrupted_id)
    [resumed_model] = model_rows(engine, crashing_id)
    assert resumed_model.metrics == metric_records(engine, crashing_id)[8]
    assert weights(resumed_model) == weights(uninterrupted_model)


@pytest.mark.parametrize("checkpoint_seconds, expected", [
    (0, [1, 2, 3, 4, 5, 6, 7, 7]),  # The last epoch gets none: the model replaces it.
    (2.5, [None, None, 3, 3, 3, 6, 6, 6]),
    (100, [None] * 8),
])
def test_checkpoint_cadence_honours_checkpoint_seconds(make_app, hook_epochs, clock, checkpoint_seconds, expected):
    app = make_app(checkpoint_seconds=checkpoint_seconds)
    engine = app_state(app).engine
    job_id = add_job(engine, add_dataset(engine))
    stored_after_epoch = []

    def tick(record):
        clock.now += 1.0

    hook_epochs(before=tick, after=lambda record: stored_after_epoch.append(checkpoint_epoch(engine, job_id)))
    with app.app_context():
        assert run_job(job_id, clock=clock) == Outcome.SUCCEEDED
    assert stored_after_epoch == expected


def test_cancelling_stops_at_the_next_epoch_boundary(engine, hook_epochs):
    job_id = add_job(engine, add_dataset(engine))
    # The API's cancel lands while epoch 3 trains; epoch 3 is still written, then training stops.
    hook_epochs(before=lambda record: record["epoch"] == 3 and set_job(engine, job_id, status="cancelling"))

    assert run_job(job_id) == Outcome.CANCELLED

    job = job_row(engine, job_id)
    assert (job.status, job.epoch, job.lease_token, job.model_id) == ("cancelled", 3, None, None)
    assert job.finished_at is not None
    assert sorted(metric_records(engine, job_id)) == [1, 2, 3]
    assert model_rows(engine, job_id) == []


def test_divergence_fails_the_job_with_the_epoch(engine):
    spec = job_spec(optimizer={"name": "sgd", "learning_rate": 1e30}, layers=[{"units": 8, "activation": "relu"}])
    job_id = add_job(engine, add_dataset(engine), spec=spec)

    assert run_job(job_id) == Outcome.FAILED

    job = job_row(engine, job_id)
    records = metric_records(engine, job_id)
    assert (job.status, job.error_type, job.lease_token) == ("failed", "diverged", None)
    assert job.error_message.startswith(f"diverged at epoch {len(records) + 1}")
    assert all(np.isfinite(value) for record in records.values() for value in record.values())


def test_divergence_keeps_the_last_finite_checkpoint(make_app, hook_epochs):
    app = make_app(checkpoint_seconds=0)
    engine = app_state(app).engine
    job_id = add_job(engine, add_dataset(engine))

    def diverge_in_epoch_4(record):
        if record["epoch"] == 4:
            raise mlp.DivergenceError(4, "training loss")

    hook_epochs(before=diverge_in_epoch_4)
    with app.app_context():
        assert run_job(job_id) == Outcome.FAILED

    job = job_row(engine, job_id)
    assert (job.status, job.error_type, job.epoch) == ("failed", "diverged", 3)
    assert job.error_message.startswith("diverged at epoch 4")
    assert checkpoint_epoch(engine, job_id) == 3


@pytest.mark.parametrize("spec_overrides, settings, fragment", [
    ({"loss": "mse"}, {}, "loss"),  # A regression loss on a classification dataset.
    ({"layers": [{"units": 64}]}, {"limits": {"max_units": 16}}, "max_units"),  # Over this worker's limits.
])
def test_a_spec_that_cannot_train_fails_as_invalid(make_app, spec_overrides, settings, fragment):
    app = make_app(**settings)
    engine = app_state(app).engine
    job_id = add_job(engine, add_dataset(engine), spec=job_spec(**spec_overrides))

    with app.app_context():
        assert run_job(job_id) == Outcome.FAILED

    job = job_row(engine, job_id)
    assert (job.status, job.error_type) == ("failed", "invalid")
    assert fragment in job.error_message
    assert metric_records(engine, job_id) == {}


def test_a_job_whose_dataset_is_gone_fails_as_invalid(engine):
    job_id = add_job(engine, None)

    assert run_job(job_id) == Outcome.FAILED

    job = job_row(engine, job_id)
    assert (job.status, job.error_type) == ("failed", "invalid")
    assert job.error_message == "the job's dataset no longer exists"


def test_a_job_out_of_attempts_fails_instead_of_training(make_app):
    app = make_app(max_attempts=3, lease_seconds=60)
    engine = app_state(app).engine
    job_id = add_job(engine, add_dataset(engine), status="running", attempts=3, epoch=4)
    backdate(engine, job_id, "heartbeat_at", 61)

    with app.app_context():
        assert run_job(job_id) == Outcome.FAILED

    job = job_row(engine, job_id)
    assert (job.status, job.error_type, job.attempts, job.lease_token) == ("failed", "max_attempts", 3, None)
    assert "3 attempts" in job.error_message and "epoch 4 of 8" in job.error_message
    assert metric_records(engine, job_id) == {}


def test_a_job_past_its_run_time_is_checkpointed_and_failed_not_retried(make_app, hook_epochs, clock):
    """Fault 8: each epoch takes 1 s on the fake clock and the limit is 2.5 s, so epoch 3 is the last."""
    app = make_app(max_run_seconds=2.5, checkpoint_seconds=100)
    engine = app_state(app).engine
    job_id = add_job(engine, add_dataset(engine))

    def tick(record):
        clock.now += 1.0

    hook_epochs(before=tick)
    with app.app_context():
        assert run_job(job_id, clock=clock) == Outcome.FAILED
        assert run_job(job_id, clock=clock) == Outcome.NOT_CLAIMED  # Failed for good: no retry.

    job = job_row(engine, job_id)
    assert (job.status, job.error_type, job.epoch, job.lease_token) == ("failed", "timeout", 3, None)
    assert "past the 2.5 s limit, at epoch 3" in job.error_message
    assert checkpoint_epoch(engine, job_id) == 3  # Checkpointed before failing, though not yet due.
    assert sorted(metric_records(engine, job_id)) == [1, 2, 3]


class CostlyCheckpoint:
    """A checkpoint handle whose serialising takes ``seconds`` on the fake clock."""

    def __init__(self, handle, clock, seconds: float):
        self.handle, self.clock, self.seconds = handle, clock, seconds

    def to_bytes(self) -> bytes:
        self.clock.now += self.seconds
        return self.handle.to_bytes()


@pytest.mark.parametrize("checkpoint_seconds, expected", [
    # One second an epoch, two a checkpoint, at most 20 % of the time on them: after each, the next
    # waits 10 s (from the end of the write): epochs 1, 11 and 21 (the last gets none).
    (1, [1, 11, 21]),
    (0, list(range(1, 30))),  # 0: every epoch before the last, whatever it costs.
])
def test_a_costly_checkpoint_spaces_out_the_next_ones(make_app, monkeypatch, clock, checkpoint_seconds, expected):
    app = make_app(checkpoint_seconds=checkpoint_seconds, checkpoint_share=0.2)
    engine = app_state(app).engine
    job_id = add_job(engine, add_dataset(engine, n_samples=40), spec=job_spec(epochs=30))
    written = []
    real_fit = mlp.fit

    def fit(*args, callback, **kwargs):
        def costly(record, checkpoint):
            clock.now += 1.0
            stop = callback(record, CostlyCheckpoint(checkpoint, clock, 2.0))
            if checkpoint_epoch(engine, job_id) == record["epoch"]:
                written.append(record["epoch"])
            return stop

        return real_fit(*args, callback=costly, **kwargs)

    monkeypatch.setattr(mlp, "fit", fit)
    with app.app_context():
        assert run_job(job_id, clock=clock) == Outcome.SUCCEEDED
    assert written == expected


def test_a_restored_model_is_stored_with_the_record_of_its_weights(engine):
    """restore_best: the model row's metrics are the best epoch's (whose weights it holds), its
    last_metrics the last epoch's, both as the epochs' own stored records; predict agrees."""
    spec = job_spec(epochs=60, validation_split=0.3, layers=[{"units": 64, "activation": "relu"}],
                    early_stopping={"monitor": "val_loss", "patience": 3})
    job_id = add_job(engine, add_dataset(engine), spec)
    assert run_job(job_id) == Outcome.SUCCEEDED
    records = metric_records(engine, job_id)
    [model] = model_rows(engine, job_id)
    best = min(records, key=lambda epoch: records[epoch]["val_loss"])
    last = max(records)
    assert best < last and job_row(engine, job_id).epoch == last
    assert (model.epoch, model.metrics, model.last_metrics) == (best, records[best], records[last])
    stored = Model.from_bytes(model.artefact)
    assert (stored.epoch, stored.metrics) == (best, records[best])
    # The evaluation report is stored with the model, of the restored weights on the validation split.
    assert model.evaluation == stored.evaluation and model.evaluation["evaluated_on"] == "validation"
    assert model.evaluation["accuracy"] == pytest.approx(records[best]["val_accuracy"])
    assert sum(map(sum, model.evaluation["confusion_matrix"])) == model.evaluation["n_samples"] == 60
