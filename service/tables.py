"""The tables: tenants and their API keys, datasets, jobs, their epoch metrics and latest
checkpoint, and trained models.

The database is the source of truth for jobs; the broker only carries job ids. Datasets, jobs
and models each name their tenant; metrics and checkpoints belong to a job and go with it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from .database import Base, UTCDateTime, utcnow
from .job_states import QUEUED, status_check_sql
# The tenant of everything made with auth off (AXON_AUTH=off); the migrations create it.
LOCAL_TENANT = "local"


def new_id() -> str:
    return uuid.uuid4().hex


class Tenant(Base):
    """Whoever owns datasets, jobs and models; its row is also the lock that serialises its job submissions."""

    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """An API key: only the SHA-256 of the key is kept, so the database never holds a usable key."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.name"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # The key's first characters, to tell keys apart in lists.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Dataset(Base):
    """Features and targets as one compressed npz blob, with what the API shows about them."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.name"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(16))
    task_reason: Mapped[str | None] = mapped_column(Text)  # Why the task (null: stored before 0009).
    n_samples: Mapped[int] = mapped_column(Integer)
    n_features: Mapped[int] = mapped_column(Integer)
    classes: Mapped[list | None] = mapped_column(JSON)  # Original labels, index = stored target.
    feature_names: Mapped[list | None] = mapped_column(JSON)
    # The column schema of an uploaded table (service.tabular): kinds, categories, target, task reason.
    table_schema: Mapped[dict | None] = mapped_column(JSON)
    dtype: Mapped[str] = mapped_column(String(16))
    checksum: Mapped[str] = mapped_column(String(64))  # sha256 of the blob.
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))  # Loaded only when training.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Job(Base):
    """One training run; its status moves as :mod:`service.job_states` allows, and only through it
    (a sweep's trial may end ``pruned``)."""

    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(status_check_sql(), name="status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.name"), index=True)
    # Deleting a dataset keeps its finished jobs (and their models), without the link.
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"), index=True)
    spec: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    epoch: Mapped[int] = mapped_column(Integer, default=0)  # Epochs finished.
    epochs: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict | None] = mapped_column(JSON)  # The latest epoch's record.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    model_id: Mapped[str | None] = mapped_column(String(32))
    # The lease: the worker holding lease_token may write; heartbeat_at says it is alive.
    lease_token: Mapped[str | None] = mapped_column(String(32))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    train_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # A sweep's trial: its sweep, its index there, and the values sampled into its spec by JSON pointer.
    sweep_id: Mapped[str | None] = mapped_column(ForeignKey("sweeps.id", ondelete="SET NULL"), index=True)
    trial: Mapped[int | None] = mapped_column(Integer)
    sampled: Mapped[dict | None] = mapped_column(JSON)


class Sweep(Base):
    """A hyperparameter search: a base spec, a space over it, and trials that are ordinary jobs.

    Its status moves queued → running → succeeded | failed | cancelled; the scheduler
    (service/sweep_scheduler.py) creates its trials from the database, at most max_parallel active.
    """

    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.name"), index=True)
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"), index=True)
    spec: Mapped[dict] = mapped_column(JSON)  # The base spec every trial starts from.
    space: Mapped[dict] = mapped_column(JSON)  # JSON pointer -> distribution.
    strategy: Mapped[str] = mapped_column(String(16))
    asha: Mapped[dict | None] = mapped_column(JSON)  # min_epochs and reduction_factor, for asha.
    n_trials: Mapped[int] = mapped_column(Integer)
    objective_metric: Mapped[str] = mapped_column(String(32))
    objective_mode: Mapped[str] = mapped_column(String(3))  # min | max
    max_parallel: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EpochMetric(Base):
    """One epoch's record; rewritten in place when a resumed job recomputes the epoch."""

    __tablename__ = "epoch_metrics"
    __table_args__ = (UniqueConstraint("job_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    record: Mapped[dict] = mapped_column(JSON)


class Checkpoint(Base):
    """The latest checkpoint of a job (the engine's npz bytes)."""

    __tablename__ = "checkpoints"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrainedModel(Base):
    """A finished job's model artefact (the engine's npz bytes) and what the API shows about it."""

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.name"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    task: Mapped[str] = mapped_column(String(16))
    n_features: Mapped[int] = mapped_column(Integer)
    classes: Mapped[list | None] = mapped_column(JSON)
    spec: Mapped[dict] = mapped_column(JSON)
    # The record of the epoch whose weights the model holds (the best one when early stopping
    # restored it), that epoch, and the last epoch's record.
    metrics: Mapped[dict | None] = mapped_column(JSON)
    epoch: Mapped[int | None] = mapped_column(Integer)
    last_metrics: Mapped[dict | None] = mapped_column(JSON)
    # The evaluation report training made of the weights (mlp.evaluation); null for older models.
    evaluation: Mapped[dict | None] = mapped_column(JSON)
    artefact: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
