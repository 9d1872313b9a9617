"""The sweep half of :class:`axon.client.Client`: start, list, show, cancel and wait for sweeps."""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

SWEEP_FINISHED = frozenset({"succeeded", "failed", "cancelled"})


class SweepsMixin:
    """Methods on ``/v1/sweeps``; :class:`axon.client.Client` provides ``_request`` and ``_pages``."""

    def sweep(self, dataset_id: str, spec: Mapping, space: Mapping, *, n_trials: int | None = None,
              strategy: str = "random", objective: str | Mapping = "val_loss", max_parallel: int = 4,
              seed: int = 0, asha: Mapping | None = None) -> dict:
        """Start a sweep over ``space`` (JSON pointer -> distribution) around the base ``spec``.

        ``objective`` is a metric name (its direction the server's default) or
        ``{"metric": ..., "mode": "min" | "max"}``; ``n_trials`` may be left out for a grid.
        """
        body: dict[str, Any] = {"dataset_id": dataset_id, "spec": dict(spec), "space": dict(space),
                                "strategy": strategy, "max_parallel": max_parallel, "seed": seed,
                                "objective": {"metric": objective} if isinstance(objective, str) else dict(objective)}
        if n_trials is not None:
            body["n_trials"] = n_trials
        if asha is not None:
            body["asha"] = dict(asha)
        return self._request("POST", "/v1/sweeps", json=body).json()

    def get_sweep(self, sweep_id: str) -> dict:
        """One sweep: status, trials by status, leaderboard and best trial."""
        return self._request("GET", f"/v1/sweeps/{sweep_id}").json()

    def sweeps(self, status: str | None = None) -> list[dict]:
        """Every sweep (without its leaderboard), newest first, or only those with ``status``."""
        return list(self._pages("/v1/sweeps", params={"status": status} if status else None))

    def cancel_sweep(self, sweep_id: str) -> dict:
        """Cancel a sweep and its unfinished trials; :class:`Conflict` once finished."""
        return self._request("POST", f"/v1/sweeps/{sweep_id}/cancel").json()

    def wait_sweep(self, sweep_id: str, timeout: float | None = None, poll: float = 1.0,
                   on_progress: Callable[[dict], Any] | None = None) -> dict:
        """Poll the sweep every ``poll`` seconds until it has finished and return it; ``on_progress(sweep)``
        after each poll. :class:`TimeoutError` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            sweep = self.get_sweep(sweep_id)
            if on_progress is not None:
                on_progress(sweep)
            if sweep["status"] in SWEEP_FINISHED:
                return sweep
            if deadline is not None and time.monotonic() + poll > deadline:
                raise TimeoutError(f"sweep {sweep_id} is still {sweep['status']} after {timeout} s")
            time.sleep(poll)
