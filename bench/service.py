"""Axon's service speed (issue 3, "How fast"): queue latency, service overhead, predict latency.

Starts its own services and measures, on this machine:

1. Queue latency, POST /v1/jobs → running: each job's ``started_at - created_at`` (both stamped by
   the server) for 1-epoch jobs sent one at a time to an idle worker, each after a random pause,
   (a) Redis + PostgreSQL with a prefork ``celery`` worker and the API under gunicorn, (b) embedded
   ``axon serve`` (SQLite database and broker); split at the job's ``published_at``, and the
   client's wall time from sending the POST to seeing the job started.
2. Service overhead: a tabular job's ``train_seconds`` against ``mlp.fit`` on the same spec and
   data in this process (the mean of one fit just before the job and one just after), and the
   per-epoch persistence cost: the worker's epoch callback (``worker.persist.EpochWriter``) timed
   call by call in this process on the same database, and the time the job spent outside its
   epochs' own ``seconds``, less the same time in the direct fit.
3. Predict over loopback HTTP under gunicorn (sync and threaded workers): single-row latency over
   sequential keep-alive requests from httpx and from http.client, and throughput with concurrent
   client threads, each beside a bare Flask JSON endpoint (bench/service_bare_app.py) served the
   same way; and the CPU per request in process, without HTTP (see bench/service_predict.py).

Needs PostgreSQL on 127.0.0.1:5432 (trust; a throwaway database is created and dropped) and Redis
on 127.0.0.1:6379 (database 7, emptied). Training processes get ``--threads`` BLAS threads (default
1, so the worker and the direct fit meet other load alike). Prints Markdown; always exits 0.

Run: ``make bench-service``, or ``.venv/bin/python bench/service.py [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import httpx
import numpy as np
import redis
from sqlalchemy import create_engine, insert, select
from threadpoolctl import threadpool_limits

# Benchmark the working tree, whatever the venv's (possibly stale) editable install says.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mlp  # noqa: E402
from service.commands.supervisor import APP_FACTORY  # noqa: E402
from report import cpu_model, load_average, ms, table, verdict  # noqa: E402
from service.tables import LOCAL_TENANT, Job  # noqa: E402
from service_predict import CLIENTS, in_process_cpu, predict_measures  # noqa: E402
from service_processes import (API_HEADERS, REPO, bench_api_key, bench_database, celery_worker,  # noqa: E402
                               embedded, gunicorn)
from worker.claim import claim_job  # noqa: E402
from service.job_states import by_service  # noqa: E402
from worker.persist import CheckpointCadence, EpochWriter, mark_cancelled  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/7"
CHECKPOINT_SECONDS = 5.0  # AXON_CHECKPOINT_SECONDS's default, for the worker and the timed callback alike.
SPIRAL = {"generator": {"kind": "spiral", "n_samples": 400, "noise": 0.1, "seed": 0}}
TINY_SPEC = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 1, "batch_size": 32, "device": "cpu"}
PREDICT_SPEC = {"layers": [{"units": 16, "activation": "tanh"}] * 2, "epochs": 30, "batch_size": 10, "device": "cpu"}
TABULAR_SPEC = {"layers": [{"units": 256, "activation": "relu"}] * 2, "epochs": 100, "batch_size": 128,
                "device": "cpu"}
FINISHED = ("succeeded", "failed", "cancelled")
jobs = Job.__table__


# ---- the API -----------------------------------------------------------------------------------

def post(client: httpx.Client, path: str, body: dict, expected: int) -> dict:
    response = client.post(path, json=body)
    if response.status_code != expected:
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
    return response.json()


def wait_finished(client: httpx.Client, job_id: str, poll_seconds: float, posted_at: float) -> tuple[dict, float]:
    """Poll the job until it succeeds; returns it and the seconds from ``posted_at`` to seeing it started."""
    seen_started, deadline = None, time.monotonic() + 600
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if seen_started is None and job["status"] != "queued":
            seen_started = time.perf_counter() - posted_at
        if job["status"] in FINISHED:
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} ended {job['status']}: {job['error']}")
            return job, seen_started
        time.sleep(poll_seconds)
    raise RuntimeError(f"job {job_id} did not finish within 600 s")


def train_job(client: httpx.Client, dataset: dict, spec: dict, poll_seconds: float) -> tuple[dict, float]:
    posted_at = time.perf_counter()
    job = post(client, "/v1/jobs", {"dataset_id": dataset["id"], "spec": spec}, 202)
    return wait_finished(client, job["id"], poll_seconds, posted_at)


# ---- 1. queue latency --------------------------------------------------------------------------

def queue_latency(url: str, database_url: str, n_jobs: int, poll_seconds: float) -> dict[str, list[float]]:
    """Seconds per 1-epoch job, sent one at a time to an idle worker after a random 0-1 s pause.

    The pause puts each POST at a random point of a polling broker's cycle; sent the moment the
    previous job ends, every job would wait out the same (worst) part of it.
    """
    pauses = random.Random(0)
    with httpx.Client(base_url=url, timeout=30, headers=API_HEADERS) as client:
        dataset = post(client, "/v1/datasets", SPIRAL, 201)
        train_job(client, dataset, TINY_SPEC, poll_seconds)  # Warm-up, uncounted: first imports, connections.
        job_ids, seen = [], []
        for _ in range(n_jobs):
            time.sleep(pauses.uniform(0, 1))
            job, seen_started = train_job(client, dataset, TINY_SPEC, poll_seconds)
            job_ids.append(job["id"])
            seen.append(seen_started)
    engine = create_engine(database_url)  # For published_at, which the API does not show.
    with engine.connect() as connection:
        stamps = connection.execute(select(jobs.c.created_at, jobs.c.published_at, jobs.c.started_at)
                                    .where(jobs.c.id.in_(job_ids))).all()
    engine.dispose()
    return {"started": [(started - created).total_seconds() for created, _, started in stamps],
            "published": [(published - created).total_seconds() for created, published, _ in stamps], "seen": seen}


def latency_rows(name: str, latency: dict[str, list[float]], target: float, poll_seconds: float) -> list:
    median = float(np.median(latency["started"]))
    published = np.array(latency["published"])
    return [
        (f"{name}: started_at − created_at, median", ms(median), f"< {ms(target)}", verdict(median < target)),
        (f"{name}: started_at − created_at, p90", ms(np.percentile(latency["started"], 90)), "—", "—"),
        (f"{name}: of which created → published (API commit + publish) / published → started (broker + "
         "worker), medians", f"{ms(np.median(published))} / "
         f"{ms(np.median(np.array(latency['started']) - published))}", "—", "—"),
        (f"{name}: client POST sent → seen started ({ms(poll_seconds)} polls), median / p90",
         f"{ms(np.median(latency['seen']))} / {ms(np.percentile(latency['seen'], 90))}", "—", "—"),
    ]


# ---- 2. service overhead -----------------------------------------------------------------------

def tabular_data(n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Features (n_samples, 64), rounded so JSON carries them exactly; 10 labels from a random teacher."""
    rng = np.random.default_rng(0)
    features = np.round(rng.standard_normal((n_samples, 64)), 4)
    teacher_hidden, teacher_output = rng.standard_normal((64, 32)) / 8, rng.standard_normal((32, 10))
    return features, np.argmax(np.tanh(features @ teacher_hidden) @ teacher_output, axis=1)


def direct_fit(spec: dict, features, labels, callback=None) -> tuple[float, float]:
    """(wall seconds of ``mlp.fit``, the sum of its epoch records' seconds)."""
    began = time.perf_counter()
    result = mlp.fit(mlp.NetworkSpec.model_validate(spec), features, labels, task="classification", callback=callback)
    return time.perf_counter() - began, sum(record["seconds"] for record in result.history)


def timed_epoch_writer(database_url: str, dataset_id: str, spec: dict, features, labels) -> dict:
    """The worker's epoch callback, timed call by call over a fit of ``spec``, on a job claimed here."""
    engine = create_engine(database_url)
    walls, cpus, wrote_checkpoint = [], [], []
    try:
        with engine.connect() as connection:
            with connection.begin():
                job_id = connection.execute(insert(jobs).values(tenant=LOCAL_TENANT, dataset_id=dataset_id, spec=spec, epochs=spec["epochs"])
                                            .returning(jobs.c.id)).scalar_one()
                claim = claim_job(connection, job_id, lease_seconds=60)
            cadence = CheckpointCadence(CHECKPOINT_SECONDS, spec["epochs"], time.monotonic)
            writer = EpochWriter(connection, claim, cadence)

            def timed(record, checkpoint):
                written_at, began, cpu_began = cadence.written_at, time.perf_counter(), time.process_time()
                stop = writer(record, checkpoint)
                walls.append(time.perf_counter() - began)
                cpus.append(time.process_time() - cpu_began)
                wrote_checkpoint.append(cadence.written_at != written_at)
                return stop

            direct_fit(spec, features, labels, callback=timed)
            # Cancelled, as the API would: finished, so the worker's reconciler leaves it alone.
            with connection.begin():
                connection.execute(by_service("cancel_running", job_id, "running"))
            mark_cancelled(connection, claim, writer.train_seconds())
    finally:
        engine.dispose()
    return {"walls": np.array(walls), "cpus": np.array(cpus), "wrote_checkpoint": np.array(wrote_checkpoint)}


def service_overhead(url: str, database_url: str, n_samples: int, epochs: int) -> dict:
    """Direct fit, the same through the service, direct fit again; then the timed epoch callback."""
    features, labels = tabular_data(n_samples)
    spec = {**TABULAR_SPEC, "epochs": epochs}
    with httpx.Client(base_url=url, timeout=120, headers=API_HEADERS) as client:
        dataset = post(client, "/v1/datasets", {"features": features.tolist(), "targets": labels.tolist()}, 201)
        before = direct_fit(spec, features, labels)
        job, _ = train_job(client, dataset, spec, poll_seconds=0.5)
        after = direct_fit(spec, features, labels)
        job_epochs = sum(record["seconds"] for record in client.get(f"/v1/jobs/{job['id']}/metrics").json()["items"])
    return {"before": before[0], "after": after[0], "direct": (before[0] + after[0]) / 2,
            "direct_epochs": (before[1] + after[1]) / 2, "service": job["train_seconds"], "job_epochs": job_epochs,
            **timed_epoch_writer(database_url, dataset["id"], spec, features, labels)}


def overhead_rows(overhead: dict, epochs: int) -> list:
    ratio = overhead["service"] / overhead["direct"]
    outside = (overhead["service"] - overhead["job_epochs"]) / overhead["job_epochs"]
    walls, cpus, wrote = overhead["walls"], overhead["cpus"], overhead["wrote_checkpoint"]
    job_gap = (overhead["service"] - overhead["job_epochs"]) / epochs
    direct_gap = (overhead["direct"] - overhead["direct_epochs"]) / epochs
    return [
        ("direct mlp.fit in this process: before / after / mean",
         f"{overhead['before']:.2f} s / {overhead['after']:.2f} s / {overhead['direct']:.2f} s", "—", "—"),
        ("the job's train_seconds ÷ the direct mean", f"{overhead['service']:.2f} s = {ratio:.3f}×",
         "within 10 %", verdict(abs(ratio - 1) <= 0.10)),
        ("load-robust: the job's train_seconds outside its epochs' own seconds ÷ those seconds",
         f"{outside:+.1%}", "within 10 %", verdict(outside <= 0.10)),
        (f"worker's epoch callback (EpochWriter), wall per epoch, mean (CPU mean {ms(cpus.mean())}; the "
         f"{(~wrote).sum()} epochs without a checkpoint: mean {ms(walls[~wrote].mean())}, p50 "
         f"{ms(np.median(walls[~wrote]))}; the {wrote.sum()} with one: mean {ms(walls[wrote].mean())})",
         ms(walls.mean()), "< 2 ms", verdict(walls.mean() < 0.002)),
        (f"per epoch outside the epochs' own seconds: job {ms(job_gap)} − direct fit {ms(direct_gap)}",
         ms(job_gap - direct_gap), "< 2 ms", verdict(job_gap - direct_gap < 0.002)),
    ]


def predict_rows(measures: dict, threads: int) -> list:
    label = f"gunicorn 2 × {threads} ({'sync, no keep-alive' if threads == 1 else 'gthread'})"
    rows = []
    for client_kind in CLIENTS:
        axon, bare, client_cpu = measures["latency"][client_kind]
        p50, p90, p99 = np.percentile(axon, [50, 90, 99])
        rows += [(f"{label}, {client_kind}: p50 (p90 {ms(p90)}; bare Flask p50 {ms(np.median(bare))}; "
                  f"client CPU {ms(client_cpu)}/request)", ms(p50), "< 2 ms", verdict(p50 < 0.002)),
                 (f"{label}, {client_kind}: p99 (bare Flask p99 {ms(np.percentile(bare, 99))})", ms(p99), "< 10 ms",
                  verdict(p99 < 0.010))]
    axon_rate, bare_rate = measures["axon_rate"], measures["bare_rate"]
    return rows + [(f"{label}: throughput, 8 http.client threads: Axon {axon_rate:,.0f}/s, bare Flask "
                    f"{bare_rate:,.0f}/s (the client used up to {measures['client_share']:.0%} of the CPUs)",
                    f"{axon_rate / bare_rate:.0%}", "≥ 60 %", verdict(axon_rate >= 0.6 * bare_rate))]


# ---- main --------------------------------------------------------------------------------------

def run(quick: bool, threads: int, logs: Path) -> None:
    n_jobs, n_requests, duration = (5, 300, 2.0) if quick else (20, 2000, 10.0)
    n_samples, epochs = (1000, 10) if quick else (8000, 100)
    print(f"## Machine\n\n- CPU: {cpu_model()}, {len(os.sched_getaffinity(0))} cores usable\n"
          f"- Python {sys.version.split()[0]}, gunicorn {version('gunicorn')}, celery {version('celery')}, "
          f"Flask {version('flask')}, httpx {version('httpx')}, numpy {np.__version__}\n"
          f"- BLAS threads in each training process (the worker, this one): {threads}\n"
          f"- load average at start (1, 5, 15 min): {load_average()}", flush=True)
    env = {name: value for name, value in os.environ.items() if not name.startswith("AXON_")}
    env.update({name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
               AXON_CHECKPOINT_SECONDS=str(CHECKPOINT_SECONDS), PYTHONPATH=str(REPO),
               # Counted as always (that cost is measured), but never reached: the bench times answers, not 429s.
               AXON_RATE_LIMIT="100000000/minute")
    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()  # No message an earlier, interrupted run left behind.
    try:
        # Embedded as `make run` serves it: loopback, API keys off.
        with embedded({**env, "AXON_AUTH": "off"}, logs / "embedded", logs) as url:
            embedded_latency = queue_latency(url, f"sqlite:///{logs / 'embedded' / 'axon.db'}", n_jobs, 0.05)
        with bench_database() as database_url:
            bench_api_key(database_url)
            env.update(AXON_DATABASE_URL=database_url, AXON_BROKER_URL=REDIS_URL, AXON_HOME=str(logs / "home"))
            with celery_worker(env, logs / "worker.log"), gunicorn(env, logs, APP_FACTORY, threads=1) as url:
                latency = queue_latency(url, database_url, n_jobs, 0.01)
                table(f"Queue latency, POST /v1/jobs → running ({n_jobs} one-epoch jobs, one at a time, idle "
                      "worker; Redis + PostgreSQL API: gunicorn 2 × 1 sync)",
                      latency_rows("Redis + PostgreSQL, prefork worker", latency, 0.050, 0.01) + latency_rows(
                          "embedded axon serve (SQLite, SQLite broker, gunicorn 1 × 16)", embedded_latency, 1.5, 0.05))
                table(f"Service overhead ({n_samples:,} rows × 64 features, 10 classes, 64→256→256→10 relu, "
                      f"batch 128, {epochs} epochs, adam, validation_split 0.1; Redis + PostgreSQL)",
                      overhead_rows(service_overhead(url, database_url, n_samples, epochs), epochs))
                with httpx.Client(base_url=url, timeout=30, headers=API_HEADERS) as client:
                    job, _ = train_job(client, post(client, "/v1/datasets", SPIRAL, 201), PREDICT_SPEC, 0.1)
            rows = [row for threads_per_worker in (1, 4) for row in predict_rows(predict_measures(
                env, logs, job["model_id"], threads_per_worker, n_requests, duration), threads_per_worker)]
            axon_cpu, bare_cpu = in_process_cpu(database_url, REDIS_URL, job["model_id"], n_requests)
            rows.append((f"in process (Flask test client, no HTTP): CPU per request, Axon {ms(axon_cpu)}, bare Flask "
                         f"{ms(bare_cpu)}; the difference is Axon's own work", ms(axon_cpu - bare_cpu), "—", "—"))
            table(f"Predict, one row over loopback HTTP ({n_requests:,} sequential keep-alive requests after "
                  f"{n_requests // 10} warm-up; throughput {duration:g} s per server in 4 interleaved turns)", rows)
    finally:
        broker.flushdb()
        broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer jobs, requests and epochs (a smoke check)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads per training process (default 1)")
    arguments = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="axon-bench-") as folder, threadpool_limits(arguments.threads):
        try:
            run(arguments.quick, arguments.threads, Path(folder))
        except Exception as error:  # A benchmark reports what broke and still exits 0.
            print(f"\nBENCHMARK ERROR: {type(error).__name__}: {error}", flush=True)
    print(f"\nLoad average at end (1, 5, 15 min): {load_average()}; the run took {time.perf_counter() - began:.0f} s.")


if __name__ == "__main__":
    main()
