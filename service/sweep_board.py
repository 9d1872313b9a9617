"""A sweep as the API shows it: its trials by status, the leaderboard and the best trial.

A trial's objective is the sweep's metric in the record of the epoch whose weights its model
holds (a succeeded trial: what predict would answer with), else in its latest epoch's record.
Only succeeded trials can be the best: a pruned or cancelled one has no model to use.
"""

from __future__ import annotations

import math
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from .tables import Job, Sweep, TrainedModel
from .sweep_schemas import AshaOptions, Objective, SweepOut, SweepSummary, TrialOut


def trials_of(session: Session, sweeps: list[Sweep]) -> dict[str, list[TrialOut]]:
    """Each sweep's trials in trial order, by sweep id."""
    by_sweep: dict[str, list[TrialOut]] = {sweep.id: [] for sweep in sweeps}
    if not sweeps:
        return by_sweep
    metric_of = {sweep.id: sweep.objective_metric for sweep in sweeps}
    rows = session.execute(
        select(Job.id, Job.sweep_id, Job.trial, Job.status, Job.sampled, Job.metrics, Job.epoch, Job.model_id,
               TrainedModel.metrics.label("model_metrics"))
        .outerjoin(TrainedModel, TrainedModel.id == Job.model_id)
        .where(Job.sweep_id.in_(list(by_sweep)))
        .order_by(Job.sweep_id, Job.trial)
    ).all()
    for row in rows:
        record = row.model_metrics or row.metrics or {}
        value = record.get(metric_of[row.sweep_id])
        objective = float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
        by_sweep[row.sweep_id].append(TrialOut(job_id=row.id, trial=row.trial, status=row.status,
                                               sampled=row.sampled or {}, objective=objective, epoch=row.epoch,
                                               model_id=row.model_id))
    return by_sweep


def leaderboard(trials: list[TrialOut], mode: str) -> list[TrialOut]:
    """Trials with an objective, best first (ties by trial index), then those without one."""
    sign = 1.0 if mode == "min" else -1.0
    scored = sorted((trial for trial in trials if trial.objective is not None),
                    key=lambda trial: (sign * trial.objective, trial.trial))
    return scored + [trial for trial in trials if trial.objective is None]


def best_trial(trials: list[TrialOut], mode: str) -> TrialOut | None:
    return next((trial for trial in leaderboard(trials, mode) if trial.status == "succeeded"
                 and trial.objective is not None), None)


def _summary_fields(sweep: Sweep, trials: list[TrialOut]) -> dict:
    counts = Counter(trial.status for trial in trials)
    counts["pending"] = max(sweep.n_trials - len(trials), 0)
    return dict(
        id=sweep.id, status=sweep.status, dataset_id=sweep.dataset_id, strategy=sweep.strategy, n_trials=sweep.n_trials,
        objective=Objective(metric=sweep.objective_metric, mode=sweep.objective_mode), max_parallel=sweep.max_parallel,
        seed=sweep.seed, counts=dict(counts), best=best_trial(trials, sweep.objective_mode),
        created_at=sweep.created_at, finished_at=sweep.finished_at,
    )


def sweep_summaries(session: Session, sweeps: list[Sweep]) -> list[SweepSummary]:
    trials = trials_of(session, sweeps)
    return [SweepSummary(**_summary_fields(sweep, trials[sweep.id])) for sweep in sweeps]


def sweep_out(session: Session, sweep: Sweep) -> SweepOut:
    trials = trials_of(session, [sweep])[sweep.id]
    return SweepOut(**_summary_fields(sweep, trials), spec=sweep.spec, space=sweep.space,
                    asha=None if sweep.asha is None else AshaOptions(**sweep.asha),
                    leaderboard=leaderboard(trials, sweep.objective_mode))
