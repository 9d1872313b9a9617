"""BLAS threads per training process: one job alone and two at once, auto policy against 2 threads each.

A prefork ``celery`` worker with 2 pool processes on Redis + PostgreSQL, behind ``axon api``, for
each ``AXON_BLAS_THREADS`` in (0: the policy, cores / 2 each; the core count: every process all
cores, as NumPy's default). Per setting: one 4-epoch tabular job (20,000 × 64, 64→256→256→10
relu, batch 128), then two submitted together; reports each job's ``train_seconds`` and the wall
time from the first POST to the last job finished. No OPENBLAS_NUM_THREADS is set: the worker's
own policy decides.

Run: ``.venv/bin/python bench/blas_threads.py``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from job_overhead import SPEC, post, tabular_data, wait_finished  # noqa: E402
from report import cpu_model, load_average  # noqa: E402
from service_processes import REPO, axon_api, bench_database, started  # noqa: E402
from worker.blas_threads import usable_cores  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/7"


@contextlib.contextmanager
def two_process_worker(env: dict, log_path: Path):
    argv = [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "--pool=prefork", "-c", "2",
            "--queues", "training", "--loglevel", "INFO", "--hostname", f"axon-bench-{uuid.uuid4().hex[:8]}@%h"]
    with started(argv, env, log_path, lambda: " ready." in log_path.read_text(errors="replace")) as process:
        yield process


def jobs_at_once(client: httpx.Client, dataset_id: str, n_jobs: int) -> tuple[list[float], float]:
    began = time.perf_counter()
    ids = [post(client, "/v1/jobs", {"dataset_id": dataset_id, "spec": SPEC}, 202)["id"] for _ in range(n_jobs)]
    seconds = [wait_finished(client, job_id)["train_seconds"] for job_id in ids]
    return seconds, time.perf_counter() - began


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    cores = usable_cores()
    print(f"- CPU: {cpu_model()}, {cores} cores usable\n- load average at start (1, 5, 15 min): {load_average()}\n")
    print("| AXON_BLAS_THREADS (threads per process) | one job alone: train_seconds | two at once: train_seconds | "
          "two at once: wall, first POST → both done |\n|---|---:|---:|---:|")
    features, labels = tabular_data()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("AXON_") and name not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    broker = redis.Redis.from_url(REDIS_URL)
    with tempfile.TemporaryDirectory(prefix="axon-bench-") as folder, bench_database() as database_url:
        logs = Path(folder)
        for setting in (0, cores):
            broker.flushdb()
            stack = {**env, "PYTHONPATH": str(REPO), "AXON_AUTH": "off", "AXON_DATABASE_URL": database_url,
                     "AXON_BROKER_URL": REDIS_URL, "AXON_HOME": str(logs / "home"), "AXON_BLAS_THREADS": str(setting)}
            with two_process_worker(stack, logs / f"worker-{setting}.log"), axon_api(stack, logs) as url:
                with httpx.Client(base_url=url, timeout=120) as client:
                    dataset = post(client, "/v1/datasets", {"features": features.tolist(),
                                                            "targets": labels.tolist()}, 201)
                    jobs_at_once(client, dataset["id"], 2)  # Warm-up: both pool processes read the dataset.
                    alone, _ = jobs_at_once(client, dataset["id"], 1)
                    pair, wall = jobs_at_once(client, dataset["id"], 2)
            threads = cores // 2 if setting == 0 else setting
            print(f"| {setting} ({max(1, threads)}) | {alone[0]:.3f} s | {pair[0]:.3f} s, {pair[1]:.3f} s | "
                  f"{wall:.3f} s |", flush=True)
    broker.flushdb()
    print(f"\nLoad average at end (1, 5, 15 min): {load_average()}")


if __name__ == "__main__":
    main()
