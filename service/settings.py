"""Every setting, from ``AXON_*`` environment variables (pydantic-settings).

With nothing set, Axon runs embedded: SQLite for the database and a SQLite-backed Celery broker
(kombu's SQLAlchemy transport), both under ``AXON_HOME``: by default the per-user data folder
(``$XDG_DATA_HOME/axon``, else ``~/.local/share/axon``), the same from any current folder, so
``axon keys`` finds the database ``axon serve`` made wherever either runs. Production points ``AXON_DATABASE_URL``
at PostgreSQL and ``AXON_BROKER_URL`` at Redis.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from limits import parse
from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from mlp import Limits


def default_home() -> Path:
    """The per-user data folder of the XDG Base Directory spec: ``$XDG_DATA_HOME/axon``, else
    ``~/.local/share/axon``; absolute, so it never depends on the current folder."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return (Path(base) / "axon").absolute()


class LimitsFromEnvironment(EnvSettingsSource):
    """The engine's limits from their own variables (``AXON_MAX_UNITS``, ...) into the nested ``limits``.

    Each field of :class:`mlp.Limits` keeps the flat name it would have as a field of Settings, so
    the variables read as every other setting does; pydantic-settings alone would want
    ``AXON_LIMITS`` as JSON.
    """

    def __call__(self) -> dict[str, Any]:
        found = {}
        for name in Limits.model_fields:
            value = self.env_vars.get(self._apply_case_sensitive(f"{self.env_prefix}{name}"))
            if value is not None:
                found[name] = value
        return {"limits": found} if found else {}


class Settings(BaseSettings):
    """Axon's configuration; each field is the environment variable ``AXON_<NAME>``, and each field
    of ``limits`` (the engine's :class:`mlp.Limits`) is ``AXON_<NAME>`` too (:meth:`variables`)."""

    model_config = SettingsConfigDict(env_prefix="AXON_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="Folder for embedded state (SQLite files); "
                       "default $XDG_DATA_HOME/axon, else ~/.local/share/axon.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in AXON_HOME.")
    broker_url: str | None = Field(None, description="Celery broker URL; default SQLite in AXON_HOME.")

    max_body_bytes: int = Field(64 * 2**20, ge=1, description="Largest request body (413 above).")
    max_rows: int = Field(1_000_000, ge=1, description="Most rows in one dataset.")
    max_features: int = Field(1_000, ge=1, description="Most features in one dataset.")
    max_classes: int = Field(1_000, ge=2, description="Most distinct class labels in one dataset.")
    max_label_length: int = Field(200, ge=1, description="Most characters in one class label (a string "
                                  "target); 422 naming the cell above it.")
    max_predict_rows: int = Field(100_000, ge=1, description="Most rows in one predict request.")
    max_predict_values: int = Field(2_000_000, ge=1, description="Most numbers in one predict answer: rows "
                                    "x classes (the probabilities) for a classifier, rows x targets for "
                                    "regression; 422 above it, before predicting.")
    limits: Limits = Field(default_factory=Limits, description="The engine's ceilings on a spec (layers, "
                           "units, parameters, epochs, batch size), each its own AXON_<NAME> variable.")
    max_training_bytes: int = Field(4 * 2**30, ge=1, description="Most memory a job's training may need, "
                                    "as mlp.footprint estimates it (data, parameters, optimizer state, "
                                    "the layers' buffers per batch, checkpoint); 422 above it, at submission.")
    page_size: int = Field(1_000, ge=1, description="Items per page of lists and metrics.")

    min_free_disk_bytes: int = Field(64 * 2**20, ge=0, description="With SQLite, new datasets and jobs are a "
                                     "507 while the database's folder has less than this free beyond the "
                                     "body, so deletes still have room; 0: no such check.")
    checkpoint_seconds: float = Field(5.0, ge=0, description="At most one checkpoint per this many "
                                      "seconds (and at most one per epoch, none at the last, which the model "
                                      "replaces; 0: every epoch before it).")
    checkpoint_share: float = Field(0.05, gt=0, le=1, description="Most of a job's training time that "
                                    "writing checkpoints may take: after one that took t seconds the next "
                                    "waits at least t / this (not with AXON_CHECKPOINT_SECONDS=0).")
    lease_seconds: float = Field(60.0, gt=0, description="A running job whose heartbeat is older "
                                 "than this is taken to have lost its worker.")
    republish_seconds: float = Field(30.0, gt=0, description="A queued job published longer ago "
                                     "than this and not started is published again.")
    reconcile_seconds: float = Field(10.0, ge=0, description="How often each worker runs the "
                                     "reconciler and vacuums the checkpoints table (0: never).")
    max_run_seconds: float = Field(24 * 3600, gt=0, description="Training time (over all attempts) "
                                   "after which a job is checkpointed and failed with a timeout.")
    max_attempts: int = Field(3, ge=1, description="Attempts that ended uncleanly (a crash, a kill, "
                              "an error) before a job is failed for good; clean hand-backs do not count.")
    predict_cache_size: int = Field(32, ge=1, description="Models kept loaded for predict.")

    auth: bool = Field(True, description="Require an API key (Authorization: Bearer) on /v1; off: every "
                       "request is tenant \"local\" (axon serve allows that on loopback only).")
    rate_limit: str = Field("6000/minute", description="Requests per API key (moving window), in the "
                            "`limits` notation, e.g. 100/second; 429 with Retry-After beyond it.")
    rate_limit_storage_url: str | None = Field(None, description="Where the rate limiter counts: "
                                               "memory:// or redis://; default the broker if it is Redis, "
                                               "else memory.")
    key_cache_seconds: float = Field(5.0, ge=0, description="How long an API process remembers a key it "
                                     "found live (no database read); a revoked key works there that "
                                     "long at most. 0: read every time.")
    auth_failure_limit: str = Field("20/minute", description="Wrong API keys one client address may send "
                                    "(moving window, per API process); beyond it a request from there "
                                    "with a key not already found live is a 429 with Retry-After, "
                                    "without a database read.")
    max_active_jobs: int = Field(16, ge=1, description="Queued, running and cancelling jobs one tenant "
                                 "may have at once (429 with Retry-After beyond it).")
    storage_quota_bytes: int = Field(10 * 2**30, ge=0, description="Bytes of datasets, models and checkpoints "
                                     "one tenant may store (409 beyond it for new datasets and jobs); 0: no quota.")
    max_event_streams: int = Field(8, ge=0, description="Event streams one API process holds open at once "
                                   "(503 with Retry-After beyond them); below its threads, so other "
                                   "requests always find one.")

    log_format: Literal["text", "json"] = Field("text", description="Log lines as human-readable text, or "
                                                "one JSON object per line (with job_id and request_id).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Least severe level "
                                                                    "the API logs (the worker: celery's --loglevel).")
    worker_metrics_port: int = Field(0, ge=0, le=65535, description="Port of the worker's own Prometheus "
                                     "/metrics (epoch durations); 0: off.")
    dataset_cache_bytes: int = Field(512 * 2**20, ge=0, description="Decoded datasets each worker process "
                                     "keeps for its next jobs (by checksum, least recently used out); 0: none.")
    blas_threads: int = Field(0, ge=0, description="BLAS threads of each training process; 0: the usable "
                              "cores divided by the worker's pool processes (all of them for axon serve's "
                              "one). Set it when several worker commands share a host: cores / processes.")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        return init_settings, LimitsFromEnvironment(settings_cls), env_settings, dotenv_settings, file_secret_settings

    @model_validator(mode="before")
    @classmethod
    def _limits_are_nested(cls, values: Any) -> Any:
        # Settings(max_units=3) would otherwise be dropped without a word (extra="ignore").
        flat = sorted(set(values) & set(Limits.model_fields)) if isinstance(values, dict) else []
        if flat:
            raise ValueError(f"{', '.join(flat)} belong in limits: Settings(limits={{{flat[0]!r}: ...}}) "
                             f"(the variable stays AXON_{flat[0].upper()})")
        return values

    @classmethod
    def variables(cls) -> dict[str, FieldInfo]:
        """Every ``AXON_*`` variable and the field it sets, in order: the limits' in place of ``limits``."""
        variables = {}
        for name, field in cls.model_fields.items():
            fields = Limits.model_fields if name == "limits" else {name: field}
            variables.update({f"AXON_{inner.upper()}": inner_field for inner, inner_field in fields.items()})
        return variables

    def value_of(self, variable: str) -> Any:
        """The value the ``AXON_*`` ``variable`` set (or its default)."""
        name = variable.removeprefix("AXON_").lower()
        return getattr(self.limits if name in Limits.model_fields else self, name)

    @field_validator("rate_limit", "auth_failure_limit")
    @classmethod
    def _parse_rate_limit(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError:
            raise ValueError(f"not a rate limit such as '100/second' or '6000 per minute': {value!r}") from None
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'axon.db').absolute()}"

    @cached_property
    def resolved_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{(self.home / 'broker.db').absolute()}"

    @cached_property
    def resolved_rate_limit_storage_url(self) -> str:
        if self.rate_limit_storage_url:
            return self.rate_limit_storage_url
        return self.resolved_broker_url if self.resolved_broker_url.startswith("redis") else "memory://"

    @property
    def embedded(self) -> bool:
        """True when the database is SQLite (the one-machine default)."""
        return self.resolved_database_url.startswith("sqlite")
