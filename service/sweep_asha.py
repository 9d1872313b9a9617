"""Asynchronous successive halving (ASHA, Li et al. 2020), as a pruner the worker asks at each epoch.

Rungs sit at ``min_epochs × reduction_factor^k`` epochs, below the trial's last epoch. A trial
reaching a rung goes on only when its objective there is among the best
``max(1, n // reduction_factor)`` of the ``n`` trials of its sweep that have reached that rung so
far, itself included; otherwise it stops and ends ``pruned``. Nothing waits for a rung to fill:
the first trials to arrive always go on, which is what makes it asynchronous (Ray Tune's
``ASHAScheduler`` and Optuna's ``SuccessiveHalvingPruner`` decide the same way). The other
trials' values come from their ``epoch_metrics`` rows, so the decision needs no state but the
database's, and a trial resumed on another worker decides exactly as it would have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .tables import EpochMetric, Job, Sweep

jobs, epoch_metrics, sweeps = Job.__table__, EpochMetric.__table__, Sweep.__table__


def rungs(min_epochs: int, reduction_factor: int, epochs: int) -> list[int]:
    """The rung epochs below ``epochs`` (a trial at its last epoch has nothing left to save)."""
    found, rung = [], min_epochs
    while rung < epochs:
        found.append(rung)
        rung *= reduction_factor
    return found


def goes_on(value: float, others: list[float], mode: str, reduction_factor: int) -> bool:
    """Whether ``value`` is among the best ``max(1, n // reduction_factor)`` of itself and ``others``."""
    if not math.isfinite(value):
        return False
    values = sorted([value, *(other for other in others if math.isfinite(other))], reverse=mode == "max")
    kept = max(1, len(values) // reduction_factor)
    cutoff = values[kept - 1]
    return value <= cutoff if mode == "min" else value >= cutoff


@dataclass(frozen=True)
class TrialPruner:
    """The ASHA decision for one trial: call it with the epoch just written and its record."""

    job_id: str
    sweep_id: str
    metric: str
    mode: str
    reduction_factor: int
    rung_epochs: frozenset[int]

    def __call__(self, connection: Connection, epoch: int, record: dict) -> bool:
        """True when the trial should stop here (pruned)."""
        if epoch not in self.rung_epochs:
            return False
        value = record.get(self.metric)
        if value is None:  # Validated up front to exist; a record without it cannot be judged.
            return False
        statement = (select(epoch_metrics.c.record)
                     .join(jobs, jobs.c.id == epoch_metrics.c.job_id)
                     .where(jobs.c.sweep_id == self.sweep_id, jobs.c.id != self.job_id, epoch_metrics.c.epoch == epoch))
        with connection.begin():
            others = [row[self.metric] for row in connection.execute(statement).scalars()
                      if isinstance(row.get(self.metric), (int, float))]
        return not goes_on(float(value), others, self.mode, self.reduction_factor)


def trial_pruner(connection: Connection, job_id: str) -> TrialPruner | None:
    """The pruner of ``job_id`` when it is a trial of an ASHA sweep, else None."""
    with connection.begin():
        row = connection.execute(
            select(jobs.c.sweep_id, jobs.c.epochs, sweeps.c.strategy, sweeps.c.asha, sweeps.c.objective_metric,
                   sweeps.c.objective_mode)
            .join(sweeps, sweeps.c.id == jobs.c.sweep_id)
            .where(jobs.c.id == job_id)
        ).one_or_none()
    if row is None or row.strategy != "asha":
        return None
    options = row.asha or {}
    min_epochs, reduction_factor = options.get("min_epochs", 1), options.get("reduction_factor", 3)
    return TrialPruner(job_id, row.sweep_id, row.objective_metric, row.objective_mode, reduction_factor,
                       frozenset(rungs(min_epochs, reduction_factor, row.epochs)))
