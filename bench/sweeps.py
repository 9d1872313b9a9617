"""Sweep scheduling overhead on Redis + PostgreSQL with two real Celery workers.

1. A playground sweep (2×8 tanh, 100 epochs, 500 spiral points, batch 10) of ``--trials`` random
   trials, ``--parallel`` at once, on 2 prefork workers: the sweep's wall time (its creation to its
   last trial's end) against the sum of its trials' ``train_seconds`` ÷ 2 (perfect packing on two
   workers, no scheduling at all). The ratio is the whole cost of queueing, claiming, persisting
   and scheduling, per trial.
2. ``advance()`` alone: the scheduler's own cost of creating one trial (locks, counts, insert,
   publish), timed in process on the same database.

Usage: ``.venv/bin/python bench/sweeps.py [--trials 64] [--parallel 4]``. A fresh database and a
private redis-server are made for the run and removed after it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from sqlalchemy import select, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.service_processes import bench_database, celery_worker, free_port  # noqa: E402

SPEC = {"layers": [{"units": 8, "activation": "tanh"}, {"units": 8, "activation": "tanh"}], "epochs": 100,
        "batch_size": 10, "device": "cpu"}
SPACE = {"/optimizer/learning_rate": {"type": "log_uniform", "low": 0.003, "high": 0.1},
         "/l2": {"type": "choice", "values": [0.0, 0.0001, 0.001]}}


@contextlib.contextmanager
def redis_server(folder: Path):
    port = free_port()
    process = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        process.kill()
        process.wait()


def run_sweep(app, n_trials: int, max_parallel: int) -> dict:
    from service.app_state import app_state
    from service.tables import Job, Sweep

    client = app.test_client()
    dataset = client.post("/v1/datasets", json={"generator": {"kind": "spiral", "n_samples": 500, "noise": 0.1,
                                                             "seed": 1}}).get_json()
    started = time.monotonic()
    response = client.post("/v1/sweeps", json={"dataset_id": dataset["id"], "spec": SPEC, "space": SPACE,
                                               "n_trials": n_trials, "max_parallel": max_parallel, "seed": 1})
    assert response.status_code == 202, response.get_json()
    sweep_id = response.get_json()["id"]
    while client.get(f"/v1/sweeps/{sweep_id}").get_json()["status"] in ("queued", "running"):
        time.sleep(1.0)  # The wall comes from the rows' timestamps; polling less leaves the CPU to the workers.
    polled_wall = time.monotonic() - started
    with app_state(app).sessions() as session:
        sweep = session.get(Sweep, sweep_id)
        trials = session.scalars(select(Job).where(Job.sweep_id == sweep_id)).all()
        wall = (max(trial.finished_at for trial in trials) - sweep.created_at).total_seconds()
        train = [trial.train_seconds for trial in trials]
        statuses = {trial.status for trial in trials}
        # Inside each job but outside its training: claim, loading the data, storing the model.
        starts = sorted(trial.started_at for trial in trials)
        # From a trial's end to the next start after it: the freed worker picking up its next trial.
        gaps = [(next(start for start in starts if start >= trial.finished_at) - trial.finished_at).total_seconds()
                for trial in trials if trial.finished_at < starts[-1]]
        in_job = [(trial.finished_at - trial.started_at).total_seconds() - trial.train_seconds for trial in trials]
    return {"wall": wall, "polled_wall": polled_wall, "train_sum": sum(train), "train_median": statistics.median(train),
            "statuses": statuses, "n": len(trials),
            "in_job_median": statistics.median(in_job), "gap_median": statistics.median(gaps),
            "gap_p90": sorted(gaps)[int(0.9 * len(gaps))]}


def time_advance(app, n_calls: int = 100) -> list[float]:
    """Seconds per advance() that creates one trial (the tenant cap at 1; each trial marked done after)."""
    from service.app_state import app_state
    from service.database import utcnow
    from service.sweep_scheduler import advance
    from service.tables import Job, Sweep

    engine = app_state(app).engine
    client = app.test_client()
    dataset = client.post("/v1/datasets", json={"generator": {"kind": "spiral", "n_samples": 100}}).get_json()
    sweep_id = client.post("/v1/sweeps", json={"dataset_id": dataset["id"], "spec": SPEC, "space": SPACE,
                                               "n_trials": n_calls + 1, "max_parallel": 1}).get_json()["id"]
    jobs = Job.__table__
    seconds = []
    for _ in range(n_calls):
        with engine.begin() as connection:  # The trial ends (as the worker would), freeing the slot.
            connection.execute(update(jobs).where(jobs.c.sweep_id == sweep_id, jobs.c.status == "queued")
                               .values(status="succeeded", finished_at=utcnow()))
        started = time.perf_counter()
        created = advance(engine, sweep_id, max_active_jobs=1, publish=lambda job_id: True)
        seconds.append(time.perf_counter() - started)
        assert len(created) == 1
    with engine.begin() as connection:
        connection.execute(update(Sweep.__table__).where(Sweep.__table__.c.id == sweep_id).values(status="cancelled"))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder, bench_database() as database_url, \
            redis_server(Path(folder)) as broker_url:
        logs = Path(folder)
        env = {**os.environ, "AXON_DATABASE_URL": database_url, "AXON_BROKER_URL": broker_url,
               "AXON_HOME": str(logs / "home"), "AXON_AUTH": "off"}
        with celery_worker(env, logs / "worker-1.log"), celery_worker(env, logs / "worker-2.log"):
            import logging

            from service import create_app
            from service.app_state import app_state

            logging.getLogger().setLevel(logging.WARNING)  # The in-process API's access lines.

            app = create_app({"database_url": database_url, "broker_url": broker_url, "auth": False,
                              "home": logs / "api-home", "max_active_jobs": 1000})
            result = run_sweep(app, args.trials, args.parallel)
        advance_seconds = time_advance(app)  # With the workers gone: no one takes the trials it makes.
        app_state(app).engine.dispose()
    ideal = result["train_sum"] / 2
    overhead_per_trial = (result["wall"] - ideal) / (result["n"] / 2)
    print(f"trials {result['n']} ({', '.join(sorted(result['statuses']))}), max_parallel {args.parallel}, 2 workers")
    print(f"wall {result['wall']:.2f} s (polled {result['polled_wall']:.2f} s); sum of train_seconds "
          f"{result['train_sum']:.2f} s, median {result['train_median']:.3f} s per trial")
    print(f"wall / (sum / 2) = {result['wall'] / ideal:.3f}; overhead {overhead_per_trial * 1000:.0f} ms per trial per worker")
    print(f"per trial: started_at to finished_at minus train_seconds, median {result['in_job_median'] * 1000:.0f} ms "
          f"(the job's own fixed cost);"
          f" a trial's end to the next start, median {result['gap_median'] * 1000:.0f} ms (p90 {result['gap_p90'] * 1000:.0f} ms)")
    print(f"advance() creating one trial: median {statistics.median(advance_seconds) * 1000:.2f} ms, "
          f"p90 {sorted(advance_seconds)[int(0.9 * len(advance_seconds))] * 1000:.2f} ms over {len(advance_seconds)} calls")
    print(f"load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
