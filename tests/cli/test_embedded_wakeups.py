"""``axon serve``'s queue with every wake-up lost, and with wake-ups: jobs run either way.

With ``AXON_BROKER_WAKEUPS=0`` the API sends none, as when each one is lost: the worker still
finds every job at its next poll. With wake-ups the jobs also run, and (on average, whatever the
load) a job waits less than a poll's interval between created and started.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from datetime import datetime

import httpx
import pytest

from service import embedded_broker

from tests.support.processes import AXON, clean_env, free_port, started_server

SPEC = {"layers": [{"units": 4, "activation": "tanh"}], "epochs": 1, "batch_size": 32, "device": "cpu"}


def run_jobs(tmp_path, n_jobs: int, **settings: str) -> list[float]:
    """Seconds from created to started for ``n_jobs`` one-epoch jobs, sent one at a time."""
    home, port = tmp_path / "home", free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(AXON_HOME=str(home), AXON_AUTH="off", **settings)
    with started_server([*AXON, "serve", "--port", str(port), "--grace", "1"], env, url, tmp_path / "serve.log",
                        cwd=tmp_path), httpx.Client(base_url=url, timeout=30) as client:
        dataset = client.post("/v1/datasets", json={"generator": {"kind": "spiral", "n_samples": 60}}).json()
        job_ids = []
        for _ in range(n_jobs):
            job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": SPEC}).json()
            deadline = time.monotonic() + 30
            while (status := client.get(f"/v1/jobs/{job['id']}").json()["status"]) != "succeeded":
                assert status in ("queued", "running") and time.monotonic() < deadline, status
                time.sleep(0.05)
            job_ids.append(job["id"])
    with sqlite3.connect(home / "axon.db") as connection:
        rows = connection.execute(f"SELECT created_at, started_at FROM jobs WHERE id IN ({','.join('?' * n_jobs)})",
                                  job_ids).fetchall()
    return [(datetime.fromisoformat(started) - datetime.fromisoformat(created)).total_seconds()
            for created, started in rows]


def test_every_job_runs_when_every_wake_up_is_lost(tmp_path):
    waits = run_jobs(tmp_path, 3, AXON_BROKER_WAKEUPS="0")
    assert len(waits) == 3 and max(waits) < embedded_broker.FALLBACK_POLL_SECONDS + 5


@pytest.mark.skipif(not embedded_broker.WAKEUPS, reason="wake-ups need Linux abstract sockets")
def test_woken_jobs_wait_less_than_a_poll(tmp_path):
    waits = run_jobs(tmp_path, 5)
    # Without wake-ups the median is about half the 1 s poll plus the API's own time.
    assert statistics.median(waits) < 0.5 * embedded_broker.FALLBACK_POLL_SECONDS
