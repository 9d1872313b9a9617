"""What the sweeps API reads and writes: the space's distributions, the sweep, its trials and leaderboard."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, model_validator

from mlp import MAXIMISED, Monitor, NetworkSpec

from .paging import CURSOR_PATTERN
from .schemas import JobStatus, RequestModel, StoredSpec

SWEEP_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
SweepStatus = Literal[SWEEP_STATUSES]
Strategy = Literal["grid", "random", "asha"]
# Each trial is validated up front; past these a sweep is better split into several.
MAX_TRIALS = 1_000
MAX_DIMENSIONS = 32
MAX_CHOICES = 1_000
POINTER_PATTERN = r"^(/[^/]*)+$"


class Choice(RequestModel):
    """One of ``values`` (any JSON: a number, a name, a whole list of layers)."""

    type: Literal["choice"] = "choice"
    values: list[Any] = Field(..., min_length=1, max_length=MAX_CHOICES)


class Uniform(RequestModel):
    """A float uniform on [low, high)."""

    type: Literal["uniform"] = "uniform"
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class LogUniform(Uniform):
    """A float whose logarithm is uniform on [log low, log high): learning rates, penalties."""

    type: Literal["log_uniform"] = "log_uniform"
    low: float = Field(..., gt=0)


class IntRange(RequestModel):
    """An integer from low to high, both included."""

    type: Literal["int"] = "int"
    low: int = Field(..., ge=-(2**53), le=2**53)
    high: int = Field(..., ge=-(2**53), le=2**53)

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low <= self.high:
            raise ValueError(f"low ({self.low}) must not be above high ({self.high})")
        return self


Distribution = Annotated[Union[Choice, Uniform, LogUniform, IntRange], Field(discriminator="type")]


class Objective(RequestModel):
    metric: Monitor = Field("val_loss", description="A metric of the epoch record; `val_*` needs validation_split > 0.")
    mode: Literal["min", "max"] | None = Field(None, description="Default: max for accuracy and r2, else min.")

    @property
    def resolved_mode(self) -> str:
        return self.mode or ("max" if self.metric in MAXIMISED else "min")


class AshaOptions(RequestModel):
    """Asynchronous successive halving: rungs at min_epochs × reduction_factor^k epochs."""

    min_epochs: int = Field(1, ge=1, description="The first rung.")
    reduction_factor: int = Field(3, ge=2, le=16, description="A trial goes on past a rung only when it is "
                                  "in the best 1/reduction_factor of the trials that reached it.")


class SweepCreate(RequestModel):
    dataset_id: str = Field(..., description="An existing dataset; an unknown id is a 422 naming /dataset_id.")
    spec: NetworkSpec = Field(..., description="The base spec every trial starts from.")
    space: dict[Annotated[str, Field(pattern=POINTER_PATTERN, max_length=200)], Distribution] = Field(
        ..., min_length=1, max_length=MAX_DIMENSIONS,
        description="Spec fields by JSON pointer (e.g. `/optimizer/learning_rate`, `/layers/0/units`), each a "
                    "distribution. Every trial's spec is validated up front; an invalid one is a 422 naming "
                    "the space entry (`/space/~1optimizer~1learning_rate`).")
    strategy: Strategy = "random"
    n_trials: int | None = Field(None, ge=1, le=MAX_TRIALS, description="Default: the grid's size (grid); "
                                 "required for random and asha.")
    objective: Objective = Field(default_factory=Objective)
    max_parallel: int = Field(4, ge=1, le=64, description="Trials queued or running at once at most; they "
                              "count against the tenant's max_active_jobs too.")
    seed: int = Field(0, ge=0, lt=2**63, description="The same seed gives the same trials.")
    asha: AshaOptions | None = Field(None, description="asha only; default rungs at 1, 3, 9, ... epochs.")


class TrialOut(BaseModel):
    job_id: str
    trial: int = Field(..., description="The trial's index in the sweep, from 0.")
    status: JobStatus
    sampled: dict[str, Any] = Field(..., description="The values set in the trial's spec, by JSON pointer.")
    objective: float | None = Field(..., description="The objective metric of the model's epoch (succeeded), "
                                    "else of the latest epoch; null before the first.")
    epoch: int = Field(..., description="Epochs run.")
    model_id: str | None


class SweepSummary(BaseModel):
    id: str
    status: SweepStatus
    dataset_id: str | None
    strategy: Strategy
    n_trials: int
    objective: Objective
    max_parallel: int
    seed: int
    counts: dict[str, int] = Field(..., description="Trials by status; `pending` ones have no job yet.")
    best: TrialOut | None = Field(..., description="The succeeded trial with the best objective.")
    created_at: datetime
    finished_at: datetime | None


class SweepOut(SweepSummary):
    spec: StoredSpec
    space: dict[str, Any]
    asha: AshaOptions | None
    leaderboard: list[TrialOut] = Field(..., description="Every trial with an objective, best first; then the rest.")


class SweepPage(BaseModel):
    items: list[SweepSummary]
    next: str | None = Field(..., description="Path of the next page, null on the last one.")
    next_cursor: str | None = Field(..., description="The `cursor` of the next page, null on the last one.")


class SweepPath(BaseModel):
    sweep_id: str = Field(..., json_schema_extra={"example": "7c6d5e4f40312a1b2c3d4e5f6a7b9a8b"})


class SweepListQuery(BaseModel):
    status: SweepStatus | None = None
    cursor: str | None = Field(None, pattern=CURSOR_PATTERN, description="The previous page's `next_cursor`.")


class SweepEventsQuery(BaseModel):
    after: int | None = Field(None, ge=0, le=2**62, description="Only events after this id: the last `id` seen "
                              "(`Last-Event-ID` wins).")
