"""A short job's fixed cost (issue 14, point 1): where the time goes from claim to model stored.

Two measures, on both stacks (embedded SQLite and PostgreSQL), for a 4-epoch tabular job
(20,000 × 64, 64→256→256→10 relu, batch 128, adam):

1. **Breakdown, in this process.** ``worker.runner.run_job`` runs a job inside an app on the
   database, with timers wrapped around each phase it goes through (claim, reading and decoding
   the dataset, binding the spec and standardising, the epochs, the epoch callbacks including
   any checkpoint, the final model, storing it). The same data and spec through ``mlp.fit``
   directly, just before and just after, are the reference. Each phase is the median of
   ``--repeats`` jobs.
2. **End to end, real processes.** ``axon serve`` (SQLite database and broker), then a prefork
   ``celery`` worker on Redis + PostgreSQL with ``axon api``: each job's ``train_seconds`` against
   ``mlp.fit`` in this process (the mean of the fits just before and after each job), interleaved.

The target: ``train_seconds`` ≤ 1.05 × the direct fit. Every training process gets ``--threads``
BLAS threads (default 1) so that the worker and the direct fit meet other load alike.
Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (database 7, emptied).

Run: ``make bench-job``, or ``.venv/bin/python bench/job_overhead.py [--repeats N] [--threads N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np
import redis
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mlp  # noqa: E402
import mlp.training  # noqa: E402
from report import cpu_model, load_average  # noqa: E402
from service import create_app  # noqa: E402
from service.app_state import app_state  # noqa: E402
from service.database import utcnow  # noqa: E402
from service.tables import LOCAL_TENANT, Dataset, Job, new_id  # noqa: E402
from service.storage import encode_arrays  # noqa: E402
from service_processes import (REPO, axon_api, bench_database, celery_worker, embedded,  # noqa: E402
                               sqlite_database)
from worker import persist, runner  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/7"
SPEC = {"layers": [{"units": 256, "activation": "relu"}] * 2, "epochs": 4, "batch_size": 128, "device": "cpu",
        "seed": 0}
N_SAMPLES = 20_000
TARGET = 1.05
FINISHED = ("succeeded", "failed", "cancelled")
# Polls of a job's status cost the API (and this client) CPU that the worker then lacks on a
# 2-core machine; a client waiting on the event stream costs about nothing until the end.
POLL_SECONDS = 0.25
# Each phase run_job goes through: (module, attribute, label). Nested phases are timed too; the
# epoch callback's time is inside the epochs' wall, and the breakdown says so.
PHASES = [
    (runner, "claim_fairest", "claim"),
    (runner, "load_inputs", "read + decode the dataset, the spec, the checkpoint"),
    (mlp.training, "start", "bind the spec, check and standardise the data"),
    (mlp.training, "train_epoch", "epochs: training passes"),
    (mlp.training, "epoch_record", "epochs: metrics (validation pass)"),
    (persist.EpochWriter, "__call__", "epoch callbacks (writes, checkpoints)"),
    (mlp.training, "final_model", "the final model"),
    (runner, "mark_succeeded", "serialise and store the model, mark succeeded"),
    (persist.EpochWriter, "__init__", "the epoch writer: statements, its autocommit connection"),
    (persist.EpochWriter, "close", "closing the writer's connection"),
    (runner.HeartbeatThread, "stop", "stopping the heartbeat thread"),
    (runner, "fit_resuming", "mlp.fit as the worker calls it (holds the engine phases above)"),
]


def tabular_data() -> tuple[np.ndarray, np.ndarray]:
    """Features (N_SAMPLES, 64), rounded so JSON carries them exactly; 10 labels from a random teacher."""
    rng = np.random.default_rng(0)
    features = np.round(rng.standard_normal((N_SAMPLES, 64)), 4)
    teacher_hidden, teacher_output = rng.standard_normal((64, 32)) / 8, rng.standard_normal((32, 10))
    return features, np.argmax(np.tanh(features @ teacher_hidden) @ teacher_output, axis=1)


def direct_fit(features, labels, with_epochs: bool = False):
    """Wall seconds of ``mlp.fit`` on the data; with the sum of its epochs' own ``seconds`` if asked."""
    began = time.perf_counter()
    result = mlp.fit(mlp.NetworkSpec.model_validate(SPEC), features, labels, task="classification")
    wall = time.perf_counter() - began
    return (wall, sum(record["seconds"] for record in result.history)) if with_epochs else wall


@contextlib.contextmanager
def phase_timers():
    """Wrap every phase in :data:`PHASES` with a timer; yields {label: [seconds, ...]} (summed per job)."""
    spent: dict[str, float] = defaultdict(float)
    originals = []
    for owner, name, label in PHASES:
        original = getattr(owner, name)
        originals.append((owner, name, original))

        def timed(*args, _original=original, _label=label, **kwargs):
            began = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_label] += time.perf_counter() - began

        setattr(owner, name, timed)
    try:
        yield spent
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def add_rows(engine, features, labels) -> str:
    """A dataset row as the API stores it; returns its id."""
    blob, checksum = encode_arrays(features, labels)
    dataset_id = new_id()
    with engine.begin() as connection:
        connection.execute(Dataset.__table__.insert().values(
            id=dataset_id, tenant=LOCAL_TENANT, name="tabular", task="classification", n_samples=len(labels),
            n_features=features.shape[1], classes=list(range(10)), feature_names=[f"x{i}" for i in range(64)],
            dtype="float64", checksum=checksum, data=blob, created_at=utcnow()))
    return dataset_id


def add_job(engine, dataset_id: str) -> str:
    spec = mlp.NetworkSpec.model_validate(SPEC).model_dump(mode="json")
    job_id = new_id()
    with engine.begin() as connection:
        connection.execute(Job.__table__.insert().values(id=job_id, tenant=LOCAL_TENANT, dataset_id=dataset_id,
                                                         spec=spec, epochs=spec["epochs"]))
    return job_id


def breakdown(database_url: str, home: Path, repeats: int, features, labels) -> dict:
    """Median seconds per phase of ``repeats`` in-process jobs, the direct fits around them, and the
    whole of ``run_job``; the first job of the worker process is reported on its own (a cold cache)."""
    app = create_app({"database_url": database_url, "broker_url": "memory://", "home": home})
    engine = app_state(app).engine
    per_job, directs, wholes, train_seconds = [], [], [], []
    try:
        dataset_id = add_rows(engine, features, labels)
        directs.append(direct_fit(features, labels))
        for _ in range(repeats + 1):
            job_id = add_job(engine, dataset_id)
            with app.app_context(), phase_timers() as spent:
                began = time.perf_counter()
                outcome = runner.run_job(job_id)
                wholes.append(time.perf_counter() - began)
            if outcome != runner.Outcome.SUCCEEDED:
                raise RuntimeError(f"in-process job ended {outcome}")
            with engine.connect() as connection:
                train_seconds.append(connection.execute(
                    Job.__table__.select().where(Job.__table__.c.id == job_id)).one().train_seconds)
            per_job.append(dict(spent))
            directs.append(direct_fit(features, labels))
    finally:
        engine.dispose()
    labels_ = [label for _, _, label in PHASES]
    return {"first": per_job[0], "phases": {label: float(np.median([job[label] for job in per_job[1:]]))
                                             for label in labels_},
            "direct": float(np.median(directs)), "whole": float(np.median(wholes[1:])),
            "first_whole": wholes[0], "train_seconds": float(np.median(train_seconds[1:]))}


def breakdown_rows(result: dict) -> list:
    direct = result["direct"]
    rows = [(label, f"{seconds * 1000:.1f} ms", f"{result['first'][label] * 1000:.1f} ms")
            for label, seconds in result["phases"].items()]
    rows += [("run_job, claim to model stored", f"{result['whole'] * 1000:.1f} ms",
              f"{result['first_whole'] * 1000:.1f} ms"),
             ("the job's train_seconds", f"{result['train_seconds'] * 1000:.1f} ms", "—"),
             ("direct mlp.fit, median of the fits around the jobs", f"{direct * 1000:.1f} ms", "—"),
             ("fixed cost: run_job − direct fit", f"{(result['whole'] - direct) * 1000:.1f} ms", "—"),
             ("train_seconds ÷ direct fit (target ≤ 1.05)", f"{result['train_seconds'] / direct:.3f}×", "—")]
    return rows


def table(title: str, rows: list, columns: tuple[str, ...]) -> None:
    """Print ``rows`` as a Markdown table with ``columns`` under ``title``, flushed at once."""
    print(f"\n## {title}\n\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    sys.stdout.flush()


def post(client: httpx.Client, path: str, body: dict, expected: int) -> dict:
    response = client.post(path, json=body)
    if response.status_code != expected:
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
    return response.json()


def wait_finished(client: httpx.Client, job_id: str) -> dict:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in FINISHED:
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} ended {job['status']}: {job['error']}")
            return job
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"job {job_id} did not finish within 300 s")


def end_to_end(url: str, repeats: int, features, labels) -> list[tuple]:
    """Per job after one warm-up: (train_seconds, the job's epochs' own seconds), and the mean of the
    direct fits before and after it (wall, epochs' own seconds)."""
    rows = []
    with httpx.Client(base_url=url, timeout=120) as client:
        dataset = post(client, "/v1/datasets", {"features": features.tolist(), "targets": labels.tolist()}, 201)
        wait_finished(client, post(client, "/v1/jobs", {"dataset_id": dataset["id"], "spec": SPEC}, 202)["id"])
        before = direct_fit(features, labels, with_epochs=True)
        for _ in range(repeats):
            job = wait_finished(client, post(client, "/v1/jobs", {"dataset_id": dataset["id"], "spec": SPEC},
                                             202)["id"])
            epochs = sum(record["seconds"] for record in client.get(f"/v1/jobs/{job['id']}/metrics").json()["items"])
            after = direct_fit(features, labels, with_epochs=True)
            rows.append((job["train_seconds"], epochs, (before[0] + after[0]) / 2, (before[1] + after[1]) / 2))
            before = after
    return rows


def end_to_end_rows(name: str, rows: list[tuple]) -> list:
    ratios = [job / direct for job, _, direct, _ in rows]
    epoch_ratios = [job_epochs / direct_epochs for _, job_epochs, _, direct_epochs in rows]
    median = float(np.median(ratios))
    return [(name, ", ".join(f"{job:.3f} / {direct:.3f}" for job, _, direct, _ in rows),
             ", ".join(f"{ratio:.3f}×" for ratio in ratios), f"{median:.3f}×",
             f"{float(np.median(epoch_ratios)):.3f}×", "PASS" if median <= TARGET else "MISS")]


def run(repeats: int, threads: int, logs: Path) -> None:
    print(f"## Machine\n\n- CPU: {cpu_model()}, {len(os.sched_getaffinity(0))} cores usable; numpy {np.__version__}\n"
          f"- BLAS threads in each training process: {threads}\n"
          f"- load average at start (1, 5, 15 min): {load_average()}", flush=True)
    features, labels = tabular_data()
    for noisy in ("httpx", "alembic", "worker", "service"):  # Their INFO lines would drown the tables.
        logging.getLogger(noisy).setLevel(logging.WARNING)
    env = {name: value for name, value in os.environ.items() if not name.startswith("AXON_")}
    env.update({name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
               PYTHONPATH=str(REPO), AXON_AUTH="off", AXON_BLAS_THREADS=str(threads))
    caption = f"{N_SAMPLES:,} × 64, 10 classes, 64→256→256→10 relu, batch 128, 4 epochs, adam"
    (logs / "sqlite").mkdir()
    sqlite_url = sqlite_database(logs / "sqlite")
    columns = ("phase", f"median of {repeats} jobs", "the worker's first job")
    table(f"In-process breakdown of run_job on SQLite ({caption})",
          breakdown_rows(breakdown(sqlite_url, logs / "sqlite", repeats, features, labels)), columns)
    with bench_database() as database_url:
        table(f"In-process breakdown of run_job on PostgreSQL ({caption})",
              breakdown_rows(breakdown(database_url, logs, repeats, features, labels)), columns)
    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()
    rows = []
    try:
        with embedded(env, logs / "embedded", logs) as url:
            rows += end_to_end_rows("embedded axon serve (SQLite)", end_to_end(url, repeats, features, labels))
        with bench_database() as database_url:
            stack = {**env, "AXON_DATABASE_URL": database_url, "AXON_BROKER_URL": REDIS_URL,
                     "AXON_HOME": str(logs / "home")}
            with celery_worker(stack, logs / "worker.log"), axon_api(stack, logs) as url:
                rows += end_to_end_rows("celery worker, Redis + PostgreSQL", end_to_end(url, repeats, features, labels))
    finally:
        broker.flushdb()
        broker.close()
    table(f"End to end: train_seconds ÷ mlp.fit in this process ({caption})", rows,
          ("stack", "train_seconds / direct fit (s), per job", "ratios", "median",
           "median ratio of the epochs' own seconds", f"≤ {TARGET}×"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="jobs per measure (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads per training process (default 1)")
    arguments = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="axon-bench-") as folder, threadpool_limits(arguments.threads):
        try:
            run(arguments.repeats, arguments.threads, Path(folder))
        except Exception as error:  # A benchmark reports what broke and still exits 0.
            print(f"\nBENCHMARK ERROR: {type(error).__name__}: {error}", flush=True)
    print(f"\nLoad average at end (1, 5, 15 min): {load_average()}; the run took {time.perf_counter() - began:.0f} s.")


if __name__ == "__main__":
    main()
