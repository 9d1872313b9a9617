"""Rows written straight to the database as the API or the worker would leave them, and read back.

Each function takes the database as an SQLAlchemy engine or as an app (its engine), so the
worker's tests (an engine) and the integration and fault suites (the API's app) share them.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from service.app_state import app_state
from service.database import utcnow
from service.storage import encode_arrays
from service.tables import LOCAL_TENANT, Checkpoint, Dataset, EpochMetric, Job, TrainedModel, new_id

from .specs import SMALL_SPEC, job_spec, spiral_arrays

jobs, datasets = Job.__table__, Dataset.__table__
epoch_metrics, checkpoints, models = EpochMetric.__table__, Checkpoint.__table__, TrainedModel.__table__
TERMINAL = {"succeeded", "failed", "cancelled"}


def engine_of(database: Engine | Flask) -> Engine:
    """The engine itself, or the app's."""
    return app_state(database).engine if isinstance(database, Flask) else database


# ---- writing rows, as the worker does (SQLAlchemy Core) ------------------------------------------

def add_dataset(database, n_samples: int = 200) -> str:
    """A spiral classification dataset with classes [0, 1]; returns its id."""
    features, targets = spiral_arrays(n_samples)
    blob, checksum = encode_arrays(features, targets)
    dataset_id = new_id()
    with engine_of(database).begin() as connection:
        connection.execute(insert(datasets).values(
            id=dataset_id, tenant=LOCAL_TENANT, name="spiral", task="classification", n_samples=n_samples, n_features=2,
            classes=[0, 1], feature_names=["x1", "x2"], dtype="float64", checksum=checksum, data=blob,
            created_at=utcnow(),
        ))
    return dataset_id


def add_job(database, dataset_id: str | None, spec: dict | None = None, **values) -> str:
    """A queued job on ``dataset_id`` (the worker tests' spec by default); ``values`` override columns."""
    spec = spec or job_spec()
    job_id = new_id()
    row = {"id": job_id, "tenant": LOCAL_TENANT, "dataset_id": dataset_id, "spec": spec, "epochs": spec["epochs"], **values}
    with engine_of(database).begin() as connection:
        connection.execute(insert(jobs).values(**row))
    return job_id


def set_job(database, job_id: str, **values) -> None:
    with engine_of(database).begin() as connection:
        connection.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def backdate(database, job_id: str, column: str, seconds: float) -> None:
    """Move the job's ``column`` timestamp ``seconds`` into the past (the clock, not a sleep)."""
    set_job(database, job_id, **{column: utcnow() - timedelta(seconds=seconds)})


def age_lease(database, job_id: str, by: timedelta = timedelta(hours=1)) -> None:
    """Move the job's heartbeat and last publish ``by`` into the past: its worker seems long dead,
    without the test waiting out a lease."""
    long_ago = utcnow() - by
    set_job(database, job_id, heartbeat_at=long_ago, published_at=long_ago)


# ---- writing rows through the app's sessions (the ORM), for the API's tests -----------------------

def add_rows(app: Flask, *rows):
    """Commit ``rows`` the way the worker would, outside any request."""
    with app_state(app).sessions() as session:
        session.add_all(rows)
        session.commit()
    return rows


def insert_job(app: Flask, dataset_id: str | None, status: str, **fields) -> Job:
    """A job row of the API tests' spec in any status, as if the worker had moved it there."""
    finished = status in TERMINAL
    job = Job(tenant=fields.pop("tenant", LOCAL_TENANT), dataset_id=dataset_id, spec=SMALL_SPEC, status=status,
              epochs=SMALL_SPEC["epochs"], finished_at=utcnow() if finished else None, **fields)
    add_rows(app, job)
    return job


def insert_model(app: Flask, result) -> TrainedModel:
    """A succeeded job and its model, as the worker leaves them after training ``result`` (an ``mlp.FitResult``)."""
    model = result.model
    model_id = new_id()
    job = insert_job(app, None, "succeeded", epoch=SMALL_SPEC["epochs"], model_id=model_id)
    row = TrainedModel(id=model_id, tenant=job.tenant, job_id=job.id, task=model.task, n_features=model.n_features,
                       classes=model.classes, spec=model.meta["spec"], metrics=model.metrics, epoch=model.epoch,
                       last_metrics=model.last_metrics, evaluation=model.evaluation, artefact=model.to_bytes())
    add_rows(app, row)
    return row


# ---- reading rows back ------------------------------------------------------------------------

def job_row(database, job_id: str):
    with engine_of(database).connect() as connection:
        return connection.execute(select(jobs).where(jobs.c.id == job_id)).one()


def job_ids(database, dataset_id: str) -> list[str]:
    with engine_of(database).connect() as connection:
        return list(connection.execute(select(jobs.c.id).where(jobs.c.dataset_id == dataset_id)).scalars())


def count_jobs(database) -> int:
    with engine_of(database).connect() as connection:
        return connection.execute(select(func.count()).select_from(jobs)).scalar_one()


def metric_records(database, job_id: str) -> dict[int, dict]:
    """{epoch: record} of the job's metrics rows."""
    with engine_of(database).connect() as connection:
        rows = connection.execute(
            select(epoch_metrics.c.epoch, epoch_metrics.c.record).where(epoch_metrics.c.job_id == job_id)
        ).all()
    return {row.epoch: row.record for row in rows}


def metric_epochs(database, job_id: str) -> list[int]:
    """The epochs with a metrics row, in order (the primary key makes each one unique)."""
    return sorted(metric_records(database, job_id))


def checkpoint_epoch(database, job_id: str) -> int | None:
    with engine_of(database).connect() as connection:
        return connection.execute(
            select(checkpoints.c.epoch).where(checkpoints.c.job_id == job_id)
        ).scalar_one_or_none()


def checkpoint_blob(database, job_id: str) -> bytes | None:
    with engine_of(database).connect() as connection:
        return connection.execute(select(checkpoints.c.data).where(checkpoints.c.job_id == job_id)).scalar()


def model_rows(database, job_id: str) -> list:
    """The models stored for the job: one at most, however many workers tried."""
    with engine_of(database).connect() as connection:
        return connection.execute(select(models).where(models.c.job_id == job_id)).all()


def model_ids(database, job_id: str) -> list[str]:
    return [row.id for row in model_rows(database, job_id)]


def without_seconds(record: dict) -> dict:
    """A record without its timing, the one field two identical runs do not share."""
    return {name: value for name, value in record.items() if name != "seconds"}
