"""Embedded ``axon serve``: POST → running, against the worker's idle CPU, for three broker setups.

For each setup a fresh ``axon serve`` (SQLite database and broker) runs; first its worker's CPU
is read from /proc over ``--idle`` seconds with nothing to do, then ``--jobs`` one-epoch jobs are
sent one at a time, each after a random 0-1 s pause (so each POST lands at a random point of the
broker's polling cycle), and each job's ``started_at − created_at`` (both stamped by the server)
is read from the database. The setups:

* wake-ups on, polling every 1 s when none comes (the default; see service/embedded_broker.py);
* wake-ups off, polling every 1 s (kombu's SQLite transport as it was);
* wake-ups off, polling every 50 ms (the other way to be quick).

Run: ``.venv/bin/python bench/embedded_latency.py [--jobs N] [--idle SECONDS]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sqlite3
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from report import cpu_model, load_average  # noqa: E402
from service_processes import REPO, embedded  # noqa: E402

SPIRAL = {"generator": {"kind": "spiral", "n_samples": 400, "noise": 0.1, "seed": 0}}
TINY_SPEC = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 1, "batch_size": 32, "device": "cpu"}
SETUPS = [
    ("wake-ups, 1 s fallback poll (default)", {"AXON_BROKER_WAKEUPS": "1", "AXON_BROKER_POLL_SECONDS": "1.0"}),
    ("no wake-ups, 1 s poll (kombu's default)", {"AXON_BROKER_WAKEUPS": "0", "AXON_BROKER_POLL_SECONDS": "1.0"}),
    ("no wake-ups, 50 ms poll", {"AXON_BROKER_WAKEUPS": "0", "AXON_BROKER_POLL_SECONDS": "0.05"}),
]


def worker_pids() -> list[int]:
    """Every process running the Celery worker of this benchmark's ``axon serve`` (by command line)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"celery" in argv and b"worker.app" in argv:
                pids.append(int(entry.name))
    return pids


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def idle_cpu_share(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def latencies(url: str, database: Path, n_jobs: int) -> list[tuple[float, float]]:
    """Per job: (started_at − created_at, published_at − created_at) in seconds."""
    pauses, job_ids = random.Random(0), []
    with httpx.Client(base_url=url, timeout=30) as client:
        dataset = client.post("/v1/datasets", json=SPIRAL).json()
        for index in range(n_jobs + 1):  # The first is a warm-up (imports, connections), not counted.
            time.sleep(pauses.uniform(0, 1))
            job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": TINY_SPEC}).json()
            while client.get(f"/v1/jobs/{job['id']}").json()["status"] in ("queued", "running"):
                time.sleep(0.05)
            if index:
                job_ids.append(job["id"])
    with sqlite3.connect(database) as connection:
        rows = connection.execute(f"SELECT created_at, published_at, started_at FROM jobs WHERE id IN "
                                  f"({','.join('?' * len(job_ids))})", job_ids).fetchall()
    seconds = lambda later, earlier: (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()  # noqa: E731
    return [(seconds(started, created), seconds(published, created)) for created, published, started in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=15)
    parser.add_argument("--idle", type=float, default=15.0, help="seconds of idle CPU measured per setup")
    parser.add_argument("--setups", type=int, nargs="*", default=list(range(len(SETUPS))),
                        help="which setups to run, by index (default: all three)")
    arguments = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    print(f"- CPU: {cpu_model()}, {len(os.sched_getaffinity(0))} cores usable\n"
          f"- load average at start (1, 5, 15 min): {load_average()}\n")
    print("| setup | POST → running, median | p90 | of which created → published, median | the idle worker's CPU |\n"
          "|---|---:|---:|---:|---:|")
    env = {name: value for name, value in os.environ.items() if not name.startswith("AXON_")}
    env.update(PYTHONPATH=str(REPO), AXON_AUTH="off")
    for name, knobs in [SETUPS[index] for index in arguments.setups]:
        with tempfile.TemporaryDirectory(prefix="axon-bench-") as folder:
            home = Path(folder) / "home"
            with embedded({**env, **knobs}, home, Path(folder)) as url:
                time.sleep(3)  # Let the worker finish starting.
                pids = [pid for pid in worker_pids() if f"{home}" in Path(f"/proc/{pid}/environ").read_text(
                    errors="replace")]
                share = idle_cpu_share(pids[0], arguments.idle) if pids else float("nan")
                pairs = np.array(latencies(url, home / "axon.db", arguments.jobs))
            started, published = pairs[:, 0], pairs[:, 1]
            print(f"| {name} | {np.median(started) * 1e3:.1f} ms | {np.percentile(started, 90) * 1e3:.1f} ms | "
                  f"{np.median(published) * 1e3:.1f} ms | {share:.2%} of a core |", flush=True)
    print(f"\nLoad average at end (1, 5, 15 min): {load_average()}")


if __name__ == "__main__":
    main()
