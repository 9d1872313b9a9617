"""Learning-rate schedules, stepped once per epoch.

The stateless schedules are pure functions of the epoch (as nanoGPT's ``get_lr(it)``), so resuming
needs nothing but the epoch. Reduce-on-plateau depends on the metrics seen so far; its small state
is what :class:`Plateau` saves in a checkpoint.
"""

from __future__ import annotations

import math

from .spec import MAXIMISED


def _constant(spec, base_lr: float, epochs: int, epoch: int) -> float:
    return base_lr


def _step(spec, base_lr: float, epochs: int, epoch: int) -> float:
    return base_lr * spec.gamma ** (epoch // spec.step_size)


def _exponential(spec, base_lr: float, epochs: int, epoch: int) -> float:
    return base_lr * spec.gamma**epoch


def _cosine(spec, base_lr: float, epochs: int, epoch: int) -> float:
    """Linear warm-up to ``base_lr`` over ``warmup_epochs``, then half a cosine down to ``eta_min``."""
    if epoch < spec.warmup_epochs:
        return base_lr * (epoch + 1) / spec.warmup_epochs
    span = max(1, spec.t_max or (epochs - spec.warmup_epochs))  # t_max counts cosine epochs only.
    progress = min(epoch - spec.warmup_epochs, span) / span
    return spec.eta_min + (base_lr - spec.eta_min) * 0.5 * (1.0 + math.cos(math.pi * progress))


SCHEDULES = {
    "constant": _constant,
    "step": _step,
    "exponential": _exponential,
    "cosine": _cosine,
}


class Plateau:
    """``ReduceLROnPlateau`` in relative-threshold mode: multiply by ``factor`` once the monitored
    metric has gone ``patience`` epochs without improving by ``threshold`` (relatively)."""

    def __init__(self, spec, base_lr: float):
        self.spec = spec
        self.learning_rate = base_lr
        self.best: float | None = None
        self.bad_epochs = 0

    def observe(self, record: dict) -> None:
        """Take one epoch's metrics into account."""
        value = record[self.spec.monitor]
        sign = -1.0 if self.spec.monitor in MAXIMISED else 1.0
        if self.best is None or sign * value < sign * self.best * (1.0 - sign * self.spec.threshold):
            self.best, self.bad_epochs = value, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.spec.patience:
            self.learning_rate = max(self.learning_rate * self.spec.factor, self.spec.min_lr)
            self.bad_epochs = 0

    def state_dict(self) -> dict:
        return {"learning_rate": self.learning_rate, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.learning_rate, self.best, self.bad_epochs = state["learning_rate"], state["best"], state["bad_epochs"]


class Schedule:
    """The learning rate for each epoch (0-based) of a run."""

    def __init__(self, spec, base_lr: float, epochs: int):
        self.spec, self.base_lr, self.epochs = spec, base_lr, epochs
        self.plateau = Plateau(spec, base_lr) if spec.name == "plateau" else None

    def learning_rate(self, epoch: int) -> float:
        if self.plateau is not None:
            return self.plateau.learning_rate
        return SCHEDULES[self.spec.name](self.spec, self.base_lr, self.epochs, epoch)

    def observe(self, record: dict) -> None:
        if self.plateau is not None:
            self.plateau.observe(record)

    def state_dict(self) -> dict:
        return self.plateau.state_dict() if self.plateau is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.plateau is not None:
            self.plateau.load_state_dict(state)
