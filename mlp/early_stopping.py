"""Early stopping: watch one metric, remember the best epoch, say when patience runs out."""

from __future__ import annotations

from .spec import MAXIMISED, EarlyStopping


class EarlyStopper:
    """Tracks the monitored metric; with ``spec`` None it never stops.

    ``best_params`` is a device copy of the flat parameters at the best epoch, kept only when
    ``restore_best`` is on; ``best_record`` is that epoch's whole record, so a model holding those
    weights can report their metrics rather than the last epoch's.
    """

    def __init__(self, spec: EarlyStopping | None, has_validation: bool = True):
        self.spec = spec
        self.monitor = None
        if spec is not None:
            self.monitor = ("val_loss" if has_validation else "loss") if spec.monitor == "auto" else spec.monitor
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_record: dict | None = None
        self.wait = 0
        self.best_params = None

    def observe(self, record: dict, params) -> bool:
        """Take the epoch's metrics; return True when training should stop."""
        if self.spec is None:
            return False
        value = record[self.monitor]
        sign = -1.0 if self.monitor in MAXIMISED else 1.0
        if self.best is None or sign * (value - self.best) < -self.spec.min_delta:
            self.best, self.best_epoch, self.best_record, self.wait = value, record["epoch"], record, 0
            if self.spec.restore_best:
                if self.best_params is None:
                    self.best_params = params.copy()
                else:
                    self.best_params[...] = params
            return False
        self.wait += 1
        return self.wait >= self.spec.patience

    @property
    def exhausted(self) -> bool:
        """Patience has run out (a run resumed from the stopping epoch's checkpoint must not go on)."""
        return self.spec is not None and self.wait >= self.spec.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "best_record": self.best_record,
                "wait": self.wait}

    def load_state_dict(self, state: dict, best_params) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.best_record = state.get("best_record")  # Absent from checkpoints written before it.
        self.best_params = best_params
