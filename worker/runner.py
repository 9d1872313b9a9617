"""Running one job: claim it, train it through the engine, persist the outcome. No Celery here.

``run_job`` is what the ``axon.train`` task calls; tests call it directly inside an app context.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

import numpy as np
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

import mlp
from mlp import CheckpointMismatchError, DataError, DeviceUnavailableError, DivergenceError, FormatError, NetworkSpec
from service.app_state import app_state
from service.job_states import QUEUED
from service.logs import job_context
from service.tables import Checkpoint, Dataset, Job
from service.queue import publish_job
from service.settings import Settings
from service.sweep_asha import trial_pruner
from service.sweep_scheduler import after_job_finished
from service.storage import decode_arrays, training_targets
from service.tabular import fit_for_training
from service.tabular.rows import identity_preprocessing

from . import stopping, telemetry
from .claim import Claim, claim_fairest, job_status, retry_deadlocks
from .dataset_cache import DATASETS
from .heartbeat import HeartbeatThread
from .checkpointing import CheckpointCadence
from .persist import Clock, EpochWriter, Flag, StopCause, mark_cancelled, mark_failed, mark_pruned, mark_succeeded
from .reconciler import publish_again
from .release import hand_back_after_lost_connection, lost_connection

log = logging.getLogger(__name__)

jobs, datasets = Job.__table__, Dataset.__table__
checkpoints = Checkpoint.__table__


class Outcome(StrEnum):
    """What one delivery of a job's message came to."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PRUNED = "pruned"  # A sweep trial ASHA stopped at a rung.
    UNKNOWN = "unknown"  # No such job: the message is dropped.
    NOT_CLAIMED = "not_claimed"  # Another worker holds it, or it has finished.
    LEASE_LOST = "lease_lost"  # Another worker took it over mid-way; this one wrote nothing more.
    HANDED_BACK = "handed_back"  # The worker is stopping: the job is queued again, to resume elsewhere.
    RETRY = "retry"  # An unexpected error: left running, the reconciler republishes it once stale.
    RELEASED = "released"  # The database connection was lost: the job is queued and published again at once.


# Outcomes that end the job: its tenant's sweeps may add trials then (see service.sweep_scheduler).
FINISHED_OUTCOMES = frozenset({Outcome.SUCCEEDED, Outcome.FAILED, Outcome.CANCELLED, Outcome.PRUNED})
# What worker.release made of a failed attempt's job, as this delivery's outcome.
RELEASED_OUTCOMES = {"queued": Outcome.RELEASED, "cancelled": Outcome.CANCELLED}


class InvalidJob(Exception):
    """The job cannot be trained as stored (its dataset is gone)."""


# Errors that training again cannot fix, by the error type the job reports.
PERMANENT_ERRORS = (
    ((DivergenceError,), "diverged"),
    ((DeviceUnavailableError,), "device_unavailable"),
    ((DataError, ValidationError, InvalidJob), "invalid"),
)
PERMANENT = tuple(error for errors, _ in PERMANENT_ERRORS for error in errors)


@dataclass(frozen=True)
class TrainingInputs:
    """What ``mlp.fit`` needs for a job: its spec, its dataset's arrays and its latest checkpoint."""

    spec: NetworkSpec
    features: np.ndarray  # (n_samples, n_features)
    targets: np.ndarray  # (n_samples,) original labels, or (n_samples,) / (n_samples, n_targets) values.
    task: str
    checkpoint: bytes | None
    checkpoint_epoch: int  # 0 without a checkpoint.
    # An uploaded table's preprocessing, fitted on the training split; the model keeps it.
    preprocessing: dict | None = None


@telemetry.logs_job_id
def run_job(job_id: str, *, clock: Clock = time.monotonic, worker_stopping: Flag = stopping.requested) -> Outcome:
    """Claim ``job_id`` and train it to its end, within the current Flask app's database.

    Parameters
    ----------
    job_id : the job to train.
    clock : seconds, for the checkpoint cadence and ``train_seconds`` (tests pass a fake one).
    worker_stopping : True once this worker shuts down; the job is then handed back at the next
        epoch boundary (tests pass their own).

    Returns
    -------
    What this delivery came to; every outcome but RETRY has been written, or needs no write.
    """
    settings: Settings = app_state().settings
    engine = app_state().engine
    with engine.connect() as connection:
        if worker_stopping():
            return leave_for_another(connection, job_id)
        claim = retry_deadlocks(lambda: claim_in_transaction(connection, job_id, settings.lease_seconds))
        if claim is None:
            return not_claimed(connection, job_id)
        if claim.job_id != job_id:
            with job_context(claim.job_id):
                return run_fairer(engine, connection, claim, job_id, settings, clock, worker_stopping)
        return run_claimed(engine, connection, claim, settings, clock, worker_stopping)


def claim_in_transaction(connection: Connection, job_id: str, lease_seconds: float) -> Claim | None:
    """:func:`claim_fairest` for ``job_id``'s message, in a transaction of its own, committed."""
    with connection.begin():
        return claim_fairest(connection, job_id, lease_seconds)


def run_fairer(engine: Engine, connection: Connection, claim: Claim, message_job_id: str, settings: Settings,
               clock: Clock, worker_stopping: Flag) -> Outcome:
    """Train the job taken instead of the message's, whose message went to it: publish that one again."""
    log.info("job %s: claimed for the message of job %s, whose tenant has more running jobs; "
             "that one is published again", claim.job_id, message_job_id)
    publish_again(connection, message_job_id)
    return run_claimed(engine, connection, claim, settings, clock, worker_stopping)


def run_claimed(engine: Engine, connection: Connection, claim: Claim, settings: Settings, clock: Clock,
                worker_stopping: Flag) -> Outcome:
    """Train a job this worker has just claimed, then let its tenant's sweeps add trials if it ended."""
    outcome = run_leased(engine, connection, claim, settings, clock, worker_stopping)
    if outcome in FINISHED_OUTCOMES:
        after_job_finished(engine, claim.job_id, settings.max_active_jobs, publish_job)
    return outcome


def run_leased(engine: Engine, connection: Connection, claim: Claim, settings: Settings, clock: Clock,
               worker_stopping: Flag) -> Outcome:
    """Train a job this worker has just claimed, keeping its lease alive meanwhile."""
    job_id = claim.job_id
    if claim.attempts > settings.max_attempts:
        return give_up(connection, claim, settings.max_attempts)
    heartbeat = HeartbeatThread(engine, claim, settings.lease_seconds / 3)
    telemetry.start_in_this_context(heartbeat)  # Its lines name the job too.
    try:
        return train_claimed(connection, claim, settings, clock, worker_stopping, heartbeat.lease_lost.is_set)
    except Exception as error:
        if not lost_connection(error):
            # Release nothing: the heartbeat goes stale and the reconciler republishes the job,
            # so a job that trips a bug backs off by a lease rather than using up its attempts at once.
            log.exception("job %s attempt %d failed unexpectedly; left for a retry", job_id, claim.attempts)
            return Outcome.RETRY
        log.warning("job %s attempt %d: the database connection was lost (%s)", job_id, claim.attempts, error)
        heartbeat.stop()  # Before the release, so no beat lands after it.
        released = hand_back_after_lost_connection(engine, claim, settings.lease_seconds / 2,
                                                   may_publish=lambda: not worker_stopping())
        return RELEASED_OUTCOMES.get(released, Outcome.RETRY)
    finally:
        heartbeat.stop()


def leave_for_another(connection: Connection, job_id: str) -> Outcome:
    """A stopping worker claims nothing; a queued job is marked unpublished, so it is sent again soon."""
    with connection.begin():
        connection.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status == QUEUED).values(published_at=None))
    log.info("job %s: this worker is stopping; left for another", job_id)
    return Outcome.HANDED_BACK


def not_claimed(connection: Connection, job_id: str) -> Outcome:
    with connection.begin():
        status = job_status(connection, job_id)
    if status is None:
        log.warning("job %s does not exist; message dropped", job_id)
        return Outcome.UNKNOWN
    log.info("job %s is %s and held or finished; message dropped", job_id, status)
    return Outcome.NOT_CLAIMED


def give_up(connection: Connection, claim: Claim, max_attempts: int) -> Outcome:
    """Fail a job that has used up its attempts, rather than let it be redelivered for ever."""
    message = (f"gave up after {max_attempts} attempts; the last one stopped after "
               f"epoch {claim.epoch} of {claim.epochs}")
    # This claim only discovered the limit; it trained nothing, so it is not counted.
    if not mark_failed(connection, claim, "max_attempts", message, attempts=claim.attempts - 1):
        return Outcome.LEASE_LOST
    log.warning("job %s: %s", claim.job_id, message)
    return Outcome.FAILED


def train_claimed(connection: Connection, claim: Claim, settings: Settings, clock: Clock,
                  worker_stopping: Flag, lease_lost: Flag) -> Outcome:
    """Train a claimed job, resuming from its checkpoint, and write how it ended."""
    try:
        with connection.begin():
            inputs = load_inputs(connection, claim, settings)
    except PERMANENT as error:
        return fail_for_error(connection, claim, error, claim.train_seconds)
    cadence = CheckpointCadence(settings.checkpoint_seconds, inputs.spec.epochs, clock, settings.checkpoint_share)
    writer = EpochWriter(connection, claim, cadence, clock, stopping=worker_stopping, lease_lost=lease_lost,
                         max_seconds=settings.max_run_seconds, prune=trial_pruner(connection, claim.job_id))
    log.info("job %s attempt %d: training from epoch %d", claim.job_id, claim.attempts, inputs.checkpoint_epoch)
    try:
        result = fit_resuming(inputs, writer, settings)
    except PERMANENT as error:
        return fail_for_error(connection, claim, error, writer.train_seconds())
    finally:
        writer.close()
    train_seconds = writer.train_seconds()
    attempt_seconds = train_seconds - claim.train_seconds
    # Not "job ... attempt ...": the fault tests count those lines as attempts.
    log.info("job %s: %d checkpoints took %.3f s of %.3f s training in this attempt", claim.job_id,
             cadence.written, cadence.spent_seconds, attempt_seconds)
    if inputs.preprocessing is not None:  # The model keeps the column preprocessing its inputs went through.
        result.model.meta["preprocessing"] = inputs.preprocessing
    return write_outcome(connection, claim, writer.stop_cause, result, train_seconds, settings)


def write_outcome(connection: Connection, claim: Claim, cause: StopCause | None, result: mlp.FitResult,
                  train_seconds: float, settings: Settings) -> Outcome:
    """Write how training ended, given why the epoch callback stopped it (None: the fit ran to its
    own end), and return this delivery's outcome; a write the lease no longer allows is LEASE_LOST."""
    match cause:
        case StopCause.LEASE_LOST:
            log.warning("job %s attempt %d: lease taken over by another worker; stopped", claim.job_id, claim.attempts)
            return Outcome.LEASE_LOST
        case StopCause.HANDED_BACK:  # Written already, with the epoch's checkpoint.
            log.info("job %s: worker stopping; handed back after epoch %d", claim.job_id, result.history[-1]["epoch"])
            return Outcome.HANDED_BACK
        case StopCause.CANCEL_REQUESTED:
            written = mark_cancelled(connection, claim, train_seconds)
            return Outcome.CANCELLED if written else Outcome.LEASE_LOST
        case StopCause.TIMED_OUT:
            epoch = result.history[-1]["epoch"]
            message = (f"timeout: trained {train_seconds:.1f} s, past the {settings.max_run_seconds:g} s limit, "
                       f"at epoch {epoch}")
            if not mark_failed(connection, claim, "timeout", message, train_seconds=train_seconds):
                return Outcome.LEASE_LOST
            log.warning("job %s failed: %s", claim.job_id, message)
            return Outcome.FAILED
        case StopCause.PRUNED:  # This epoch is written.
            if mark_pruned(connection, claim, train_seconds):
                log.info("job %s: pruned at epoch %d by its sweep", claim.job_id, result.history[-1]["epoch"])
                return Outcome.PRUNED
            # A cancel that landed since this epoch's write wins: the trial ends cancelled.
            written = mark_cancelled(connection, claim, train_seconds)
            return Outcome.CANCELLED if written else Outcome.LEASE_LOST
        case None:
            if not mark_succeeded(connection, claim, result, train_seconds):
                return Outcome.LEASE_LOST
            log.info("job %s succeeded (%s)", claim.job_id, result.stop_reason)
            return Outcome.SUCCEEDED


def load_inputs(connection: Connection, claim: Claim, settings: Settings) -> TrainingInputs:
    """Read the spec, the dataset and the latest checkpoint of a claimed job.

    Raises
    ------
    pydantic.ValidationError
        The stored spec breaks this worker's limits.
    InvalidJob
        The dataset is gone.
    """
    spec = NetworkSpec.model_validate(claim.spec, context={"limits": settings.limits})
    dataset = connection.execute(
        select(datasets.c.checksum, datasets.c.classes, datasets.c.task, datasets.c.table_schema,
               datasets.c.feature_names)
        .where(datasets.c.id == claim.dataset_id)
    ).one_or_none()
    if dataset is None:
        raise InvalidJob("the job's dataset no longer exists")
    features, stored_targets = read_dataset(connection, claim.dataset_id, dataset.checksum)
    preprocessing = None
    if dataset.table_schema is not None:
        features, preprocessing = fit_for_training(dataset.table_schema, dataset.classes, dataset.task, features,
                                                   stored_targets, spec)
    elif dataset.feature_names:  # Named columns (a generator's): predict matches them by name.
        preprocessing = identity_preprocessing(dataset.feature_names)
    checkpoint = connection.execute(
        select(checkpoints.c.data, checkpoints.c.epoch).where(checkpoints.c.job_id == claim.job_id)
    ).one_or_none()
    return TrainingInputs(
        spec, features, training_targets(stored_targets, dataset.classes), dataset.task,
        checkpoint=None if checkpoint is None else checkpoint.data,
        checkpoint_epoch=0 if checkpoint is None else checkpoint.epoch, preprocessing=preprocessing,
    )


def read_dataset(connection: Connection, dataset_id: str, checksum: str) -> tuple[np.ndarray, np.ndarray]:
    """The dataset's stored (features, targets), from this process's cache when it read them before."""
    cached = DATASETS.get(checksum)
    if cached is not None:
        return cached
    blob = connection.execute(select(datasets.c.data).where(datasets.c.id == dataset_id)).scalar_one_or_none()
    if blob is None:  # Deleted between the two reads.
        raise InvalidJob("the job's dataset no longer exists")
    return DATASETS.put(checksum, *decode_arrays(blob))


def fit_resuming(inputs: TrainingInputs, writer: EpochWriter, settings: Settings) -> mlp.FitResult:
    """``mlp.fit`` from the checkpoint when there is one it accepts, else from the start.

    A checkpoint the engine refuses (written by another engine version, say) only costs time:
    a fresh run with the same seed ends exactly where the resumed one would have.
    """
    fit = partial(mlp.fit, inputs.spec, inputs.features, inputs.targets, task=inputs.task,
                  callback=writer, limits=settings.limits)
    if inputs.checkpoint is None:
        return fit()
    try:
        return fit(resume_from=inputs.checkpoint)
    except (CheckpointMismatchError, FormatError) as error:
        log.warning("job %s: checkpoint refused (%s); training from the start", writer.claim.job_id, error)
        return fit()


def fail_for_error(connection: Connection, claim: Claim, error: Exception, train_seconds: float) -> Outcome:
    """Fail the job for a permanent ``error``, typed by :data:`PERMANENT_ERRORS`, and log it."""
    error_type = next(name for errors, name in PERMANENT_ERRORS if isinstance(error, errors))
    message = describe(error)
    if not mark_failed(connection, claim, error_type, message, train_seconds=train_seconds):
        return Outcome.LEASE_LOST
    log.warning("job %s failed (%s): %s", claim.job_id, error_type, message)
    return Outcome.FAILED


def describe(error: Exception) -> str:
    """One line for the job's error message; pydantic's errors name each offending field."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"spec.{'.'.join(str(part) for part in detail['loc'])}: {detail['msg']}" for detail in error.errors()
        )
    return str(error)
