"""Rows for the worker tests, written straight to the database as the API would write them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select, update

from mlp import NetworkSpec
from mlp.playground_data import GeneratorSpec, generate
from service.database import utcnow
from service.tables import LOCAL_TENANT, Checkpoint, Dataset, EpochMetric, Job, TrainedModel, new_id
from service.storage import encode_arrays

jobs, datasets = Job.__table__, Dataset.__table__
epoch_metrics, checkpoints, models = EpochMetric.__table__, Checkpoint.__table__, TrainedModel.__table__

SPEC = {
    "layers": [{"units": 8, "activation": "tanh"}, {"units": 8, "activation": "relu", "dropout": 0.1}],
    "epochs": 8,
    "batch_size": 32,
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "device": "cpu",
    "seed": 7,
}


def spiral_arrays(n_samples: int = 200):
    data = generate(GeneratorSpec(kind="spiral", n_samples=n_samples, noise=0.1, seed=1))
    return data.features, data.targets


def add_dataset(engine, n_samples: int = 200) -> str:
    """A spiral classification dataset with classes [0, 1]; returns its id."""
    features, targets = spiral_arrays(n_samples)
    blob, checksum = encode_arrays(features, targets)
    dataset_id = new_id()
    with engine.begin() as connection:
        connection.execute(insert(datasets).values(
            id=dataset_id, tenant=LOCAL_TENANT, name="spiral", task="classification", n_samples=n_samples, n_features=2,
            classes=[0, 1], feature_names=["x1", "x2"], dtype="float64", checksum=checksum, data=blob,
            created_at=utcnow(),
        ))
    return dataset_id


def job_spec(**overrides) -> dict:
    """The test spec, normalised as the API stores it."""
    return NetworkSpec.model_validate({**SPEC, **overrides}).model_dump(mode="json")


def add_job(engine, dataset_id: str, spec: dict | None = None, **values) -> str:
    """A queued job on ``dataset_id``; ``values`` override columns."""
    spec = spec or job_spec()
    job_id = new_id()
    row = {"id": job_id, "tenant": LOCAL_TENANT, "dataset_id": dataset_id, "spec": spec, "epochs": spec["epochs"], **values}
    with engine.begin() as connection:
        connection.execute(insert(jobs).values(**row))
    return job_id


def job_row(engine, job_id: str):
    with engine.connect() as connection:
        return connection.execute(select(jobs).where(jobs.c.id == job_id)).one()


def set_job(engine, job_id: str, **values) -> None:
    with engine.begin() as connection:
        connection.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def backdate(engine, job_id: str, column: str, seconds: float) -> None:
    """Move the job's ``column`` timestamp ``seconds`` into the past (the clock, not a sleep)."""
    set_job(engine, job_id, **{column: utcnow() - timedelta(seconds=seconds)})


def metric_records(engine, job_id: str) -> dict[int, dict]:
    """{epoch: record} of the job's metrics rows."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(epoch_metrics.c.epoch, epoch_metrics.c.record).where(epoch_metrics.c.job_id == job_id)
        ).all()
    return {row.epoch: row.record for row in rows}


def checkpoint_epoch(engine, job_id: str) -> int | None:
    with engine.connect() as connection:
        return connection.execute(
            select(checkpoints.c.epoch).where(checkpoints.c.job_id == job_id)
        ).scalar_one_or_none()


def model_rows(engine, job_id: str) -> list:
    with engine.connect() as connection:
        return connection.execute(select(models).where(models.c.job_id == job_id)).all()


def count_jobs(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(jobs)).scalar_one()


def without_seconds(record: dict) -> dict:
    """A record without its timing, the one field two identical runs do not share."""
    return {name: value for name, value in record.items() if name != "seconds"}
