"""Axon under load (issue 4): many predict clients at once, and a burst of jobs on two workers.

Starts its own services, as production runs them, and checks, on this machine:

1. Predict: ``--clients`` (50) concurrent keep-alive clients, each a thread sending
   POST /v1/models/{id}/predict back to back for ``--seconds`` (20) against ``axon api``
   (waitress, 2 processes × 16 threads): half the requests one row, half batches of
   2 to 400 rows. Every answer must be a 200 and equal, byte for byte, the answer the same rows got
   alone before the load: zero errors. Reports requests, throughput and latency percentiles.
2. Burst: ``--jobs`` (100) small jobs submitted at once (from 10 client threads) to 2 separate
   prefork ``celery`` workers on Redis + PostgreSQL. Every job must succeed on its first attempt,
   with exactly one metrics row per epoch, and each must have been trained by one worker, both
   workers taking part (the workers' "attempt" log lines say which trained what). Reports the
   time to drain the burst (last ``finished_at`` − first ``created_at``).

Needs PostgreSQL on 127.0.0.1:5432 (trust; a throwaway database is created and dropped) and Redis
on 127.0.0.1:6379 (database 8, emptied). The API runs with auth on and a key made for the tenant
``load`` (``service.auth.create_key``), the tenant's job cap (AXON_MAX_ACTIVE_JOBS) above the
burst, and a rate limit no client here can reach. Prints Markdown; exits 1 when a requirement
fails, so ``make bench-load`` fails with it.

Run: ``make bench-load``, or ``.venv/bin/python bench/load.py [--clients N] [--seconds S] [--jobs N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import redis
from sqlalchemy import create_engine, func, select

# Benchmark the working tree, whatever the venv's (possibly stale) editable install says.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from service.commands.supervisor import API_THREADS  # noqa: E402
from report import cpu_model, load_average, ms, table, verdict  # noqa: E402
from service.auth import create_key  # noqa: E402
from service.tables import EpochMetric, Job  # noqa: E402
from service_predict import BODY_BYTES, JSON_HEADERS, concurrently  # noqa: E402
from service_processes import REPO, axon_api, bench_database, celery_worker  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/8"
N_WORKERS = 2
SUBMIT_THREADS = 10
SPIRAL = {"generator": {"kind": "spiral", "n_samples": 300, "noise": 0.1, "seed": 0}}
PREDICT_SPEC = {"layers": [{"units": 16, "activation": "tanh"}] * 2, "epochs": 30, "batch_size": 10, "device": "cpu"}
BURST_SPEC = {"layers": [{"units": 16, "activation": "tanh"}], "epochs": 20, "batch_size": 20, "device": "cpu"}
FINISHED = ("succeeded", "failed", "cancelled")
ATTEMPT_LINE = re.compile(r"job (\w+) attempt (\d+): training from epoch (\d+)")
jobs, epoch_metrics = Job.__table__, EpochMetric.__table__


def post(client: httpx.Client, path: str, body: dict, expected: int) -> dict:
    response = client.post(path, json=body)
    if response.status_code != expected:
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
    return response.json()


def wait_succeeded(client: httpx.Client, job_id: str, seconds: float = 300) -> dict:
    deadline = time.monotonic() + seconds
    while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] not in FINISHED:
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {job['status']} after {seconds} s")
        time.sleep(0.1)
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job_id} ended {job['status']}: {job['error']}")
    return job


# ---- 1. predict under load ---------------------------------------------------------------------

def predict_bodies(url: str, path: str, headers: dict) -> list[tuple[bytes, bytes]]:
    """(body, the answer it gets alone) pairs: the one-row body the latencies are about, and batches
    of 2 to 400 rows that make the threads overlap inside one another's forward passes."""
    rng = np.random.default_rng(0)
    bodies = [BODY_BYTES] * 4 + [json.dumps({"inputs": rng.normal(size=(int(n_rows), 2)).round(6).tolist()}).encode()
                                 for n_rows in rng.integers(2, 401, size=4)]
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        return [(body, client.post(path, content=body).content) for body in bodies]


def predict_client(url: str, path: str, headers: dict, bodies: list, deadline: float, latencies: list,
                   errors: list, index: int) -> None:
    """Send the bodies in turn until ``deadline`` on one keep-alive connection; an answer that differs
    from the one its body got alone counts as an error, whatever its status."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        while (began := time.perf_counter()) < deadline:
            body, expected = bodies[index % len(bodies)]
            index += 1
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as error:
                errors.append(f"{type(error).__name__}: {error}")
                connection.close()  # http.client reconnects on the next request.
                continue
            latencies.append(time.perf_counter() - began)
            if response.status != 200:
                errors.append(f"{response.status}: {answer[:200]!r}")
            elif answer != expected:
                errors.append("200 with another answer than the same rows got alone")
    finally:
        connection.close()


def predict_load(url: str, model_id: str, headers: dict, n_clients: int, seconds: float) -> dict:
    """``n_clients`` threads predicting for ``seconds``; latencies (s), errors, and the client's CPU share."""
    path = f"/v1/models/{model_id}/predict"
    headers = {**headers, **JSON_HEADERS}
    bodies = predict_bodies(url, path, headers)
    latencies: list[float] = []  # list.append is atomic under the GIL: one list for all threads.
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    elapsed, client_share = concurrently(
        lambda index: predict_client(url, path, headers, bodies, deadline, latencies, errors, index), n_clients)
    return {"latencies": np.array(latencies), "errors": errors, "elapsed": elapsed, "client_share": client_share}


def predict_rows(load: dict, n_clients: int) -> list:
    latencies, errors = load["latencies"], load["errors"]
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99]) if len(latencies) else (np.nan,) * 3
    error_count = f"{len(errors):,}" + (f" (first kinds: {'; '.join(sorted(set(errors))[:3])})" if errors else "")
    return [
        ("requests answered (all clients)", f"{len(latencies):,}", "—", "—"),
        ("errors (non-200 answers, wrong answers, connection failures)", error_count, "0",
         verdict(not errors and len(latencies) > 0, required=True)),
        (f"throughput over {load['elapsed']:.1f} s", f"{len(latencies) / load['elapsed']:,.0f} requests/s", "—", "—"),
        ("latency p50 / p90 / p99", f"{ms(p50)} / {ms(p90)} / {ms(p99)}", "—", "—"),
        ("latency max", ms(latencies.max()) if len(latencies) else "—", "—", "—"),
        (f"the {n_clients} client threads' share of the machine's CPU", f"{load['client_share']:.0%}", "—", "—"),
    ]


# ---- 2. a burst of jobs ------------------------------------------------------------------------

def burst(url: str, headers: dict, n_jobs: int) -> tuple[list[str], float]:
    """Submit ``n_jobs`` at once from a few threads; (job ids, the client's seconds until all were accepted)."""
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        dataset = post(client, "/v1/datasets", SPIRAL, 201)
        body = {"dataset_id": dataset["id"], "spec": BURST_SPEC}
        began = time.perf_counter()
        with ThreadPoolExecutor(SUBMIT_THREADS) as pool:
            job_ids = list(pool.map(lambda _: post(client, "/v1/jobs", body, 202)["id"], range(n_jobs)))
        return job_ids, time.perf_counter() - began


def wait_drained(database_url: str, job_ids: list[str], seconds: float = 900) -> None:
    engine = create_engine(database_url)
    try:
        deadline = time.monotonic() + seconds
        while True:
            with engine.connect() as connection:
                finished = connection.execute(select(func.count()).select_from(jobs).where(
                    jobs.c.id.in_(job_ids), jobs.c.status.in_(FINISHED))).scalar_one()
            if finished == len(job_ids):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {finished} of {len(job_ids)} jobs finished within {seconds} s")
            time.sleep(0.2)
    finally:
        engine.dispose()


def burst_outcome(database_url: str, job_ids: list[str], worker_logs: list[Path]) -> dict:
    """What the database and the workers' logs say about the burst's jobs."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(jobs.c.id, jobs.c.status, jobs.c.attempts, jobs.c.epochs, jobs.c.epoch,
                                             jobs.c.created_at, jobs.c.started_at, jobs.c.finished_at)
                                      .where(jobs.c.id.in_(job_ids))).all()
            metrics = {row.job_id: row for row in connection.execute(
                select(epoch_metrics.c.job_id, func.count().label("rows"),
                       func.count(epoch_metrics.c.epoch.distinct()).label("epochs"),
                       func.min(epoch_metrics.c.epoch).label("first"), func.max(epoch_metrics.c.epoch).label("last"))
                .where(epoch_metrics.c.job_id.in_(job_ids)).group_by(epoch_metrics.c.job_id))}
    finally:
        engine.dispose()
    trained_by: dict[str, list[int]] = {job_id: [] for job_id in job_ids}
    for index, log_path in enumerate(worker_logs):
        for job_id, _, _ in ATTEMPT_LINE.findall(log_path.read_text(errors="replace")):
            if job_id in trained_by:  # Not the predict model's job.
                trained_by[job_id].append(index)

    def complete(row) -> bool:
        record = metrics.get(row.id)
        return record is not None and (record.rows, record.epochs, record.first, record.last) == \
            (row.epochs, row.epochs, 1, row.epochs)

    return {
        "jobs": len(rows),
        "succeeded_once": sum(row.status == "succeeded" and row.attempts == 1 and row.epoch == row.epochs
                              for row in rows),
        "complete": sum(complete(row) for row in rows),
        "one_worker": sum(len(trained_by[row.id]) == 1 for row in rows),
        "per_worker": [sum(index in workers for workers in trained_by.values()) for index in range(len(worker_logs))],
        "drain": (max(row.finished_at for row in rows) - min(row.created_at for row in rows)).total_seconds(),
        "waits": np.array([(row.started_at - row.created_at).total_seconds() for row in rows]),
    }


def burst_rows(outcome: dict, n_jobs: int, submit_seconds: float) -> list:
    per_worker = outcome["per_worker"]
    return [
        ("jobs succeeded on their first attempt (attempts = 1, epoch = epochs)",
         f"{outcome['succeeded_once']} of {outcome['jobs']}", f"{n_jobs} of {n_jobs}",
         verdict(outcome["succeeded_once"] == outcome["jobs"] == n_jobs, required=True)),
        ("jobs with one metrics row per epoch, 1..epochs, none twice", f"{outcome['complete']} of {outcome['jobs']}",
         f"{n_jobs} of {n_jobs}", verdict(outcome["complete"] == n_jobs, required=True)),
        ("jobs trained by exactly one worker (one attempt line in all the logs)",
         f"{outcome['one_worker']} of {outcome['jobs']}", f"{n_jobs} of {n_jobs}",
         verdict(outcome["one_worker"] == n_jobs, required=True)),
        ("jobs per worker", " / ".join(str(count) for count in per_worker), "every worker > 0",
         verdict(all(count > 0 for count in per_worker), required=True)),
        (f"all {n_jobs} POSTs accepted (client wall time, {SUBMIT_THREADS} threads)", f"{submit_seconds:.2f} s", "—",
         "—"),
        ("time to drain: last finished_at − first created_at", f"{outcome['drain']:.1f} s", "—", "—"),
        ("per job: created → started, p50 / p90 / max",
         " / ".join(f"{value:.1f} s" for value in np.percentile(outcome["waits"], [50, 90, 100])), "—", "—"),
    ]


# ---- main --------------------------------------------------------------------------------------

def run(arguments: argparse.Namespace, logs: Path) -> bool:
    """Both checks; True when every requirement held."""
    print(f"Run on {date.today().isoformat()}: `{' '.join(['.venv/bin/python', 'bench/load.py', *sys.argv[1:]])}`\n\n"
          f"- CPU: {cpu_model()}, {len(os.sched_getaffinity(0))} cores usable, shared by the API, the workers, "
          f"PostgreSQL, Redis and the clients\n- load average at start (1, 5, 15 min): {load_average()}", flush=True)
    env = {name: value for name, value in os.environ.items() if not name.startswith("AXON_")}
    env.update({name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
               PYTHONPATH=str(REPO), AXON_BROKER_URL=REDIS_URL, AXON_HOME=str(logs / "home"),
               AXON_MAX_ACTIVE_JOBS=str(max(arguments.jobs, 100)), AXON_RATE_LIMIT="1000000/minute")
    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()  # No message (or rate-limit count) an earlier, interrupted run left behind.
    try:
        with bench_database() as database_url:
            env["AXON_DATABASE_URL"] = database_url
            engine = create_engine(database_url)
            headers = {"Authorization": f"Bearer {create_key(engine, 'load')}"}
            engine.dispose()
            worker_logs = [logs / f"worker-{index}.log" for index in range(N_WORKERS)]
            with contextlib.ExitStack() as services:
                for log_path in worker_logs:
                    services.enter_context(celery_worker(env, log_path))
                url = services.enter_context(axon_api(env, logs))
                with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                    dataset = post(client, "/v1/datasets", SPIRAL, 201)
                    job = post(client, "/v1/jobs", {"dataset_id": dataset["id"], "spec": PREDICT_SPEC}, 202)
                    model_id = wait_succeeded(client, job["id"])["model_id"]
                load = predict_load(url, model_id, headers, arguments.clients, arguments.seconds)
                predict = predict_rows(load, arguments.clients)
                table(f"Predict: {arguments.clients} concurrent keep-alive clients for {arguments.seconds:g} s, "
                      f"half the requests one row, half 2-400 rows, every answer checked against the same rows alone "
                      f"(axon api: waitress 2 × {API_THREADS} threads, auth on)", predict,
                      heading="###", goal="required")
                job_ids, submit_seconds = burst(url, headers, arguments.jobs)
                wait_drained(database_url, job_ids)
                outcome = burst_outcome(database_url, job_ids, worker_logs)
                rows = burst_rows(outcome, arguments.jobs, submit_seconds)
                table(f"Burst: {arguments.jobs} jobs at once ({BURST_SPEC['epochs']} epochs of a 16-unit tanh "
                      f"network on a 300-row spiral each) on {N_WORKERS} prefork workers, Redis + PostgreSQL", rows,
                      heading="###", goal="required")
    finally:
        broker.flushdb()
        broker.close()
    return all(row[3] != "FAIL" for row in [*predict, *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent predict clients (default 50)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of predict load (default 20)")
    parser.add_argument("--jobs", type=int, default=100, help="jobs in the burst (default 100)")
    arguments = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="axon-load-") as folder:
        try:
            passed = run(arguments, Path(folder))
        except Exception as error:
            print(f"\nLOAD ERROR: {type(error).__name__}: {error}", flush=True)
            passed = False
    print(f"\nLoad average at end (1, 5, 15 min): {load_average()}; the run took {time.perf_counter() - began:.0f} s.")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
