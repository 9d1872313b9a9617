"""Where a predict's CPU goes: the same cached single-row predict in process (Flask test client, no
HTTP) with the per-request features switched off one at a time, on PostgreSQL + Redis.

    .venv/bin/python bench/predict_costs.py [--requests 1500]

Each variant is a fresh app on one throwaway database; the differences between rows are what the
API key check, the Redis-counted rate limit and the access log cost per request.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mlp import NetworkSpec, fit  # noqa: E402
from report import cpu_model, load_average  # noqa: E402
from service.app_state import app_state  # noqa: E402
from service import create_app  # noqa: E402
from service.auth import create_key  # noqa: E402
from service.database import utcnow  # noqa: E402
from service.tables import LOCAL_TENANT, Job, TrainedModel, new_id  # noqa: E402
from service_processes import bench_database  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/8"
SPEC = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 3, "batch_size": 32, "device": "cpu"}
BODY = {"inputs": [[0.5, -0.5]]}
# (name, settings, access log on): the defaults, then each row changes one thing against the
# second, which has the access log off.
VARIANTS = [
    ("defaults: key cached, rate limit counted in Redis, access log", {}, True),
    ("access log off", {}, False),
    ("access log off, key read from the database on every request", {"key_cache_seconds": 0}, False),
    ("access log off, rate limit counted in memory", {"rate_limit_storage_url": "memory://"}, False),
    ("access log off, rate limit in memory, keys off", {"auth": False, "rate_limit_storage_url": "memory://"},
     False),
]


def add_model(app) -> str:
    """A small trained classifier and its succeeded job, as the worker leaves them; the model id."""
    features = np.random.default_rng(0).normal(size=(60, 2))
    model = fit(NetworkSpec.model_validate(SPEC), features, (features[:, 0] > 0).astype(int)).model
    job = Job(id=new_id(), tenant=LOCAL_TENANT, spec=SPEC, status="succeeded", epochs=3, epoch=3, finished_at=utcnow())
    row = TrainedModel(id=new_id(), tenant=LOCAL_TENANT, job_id=job.id, task=model.task, n_features=2,
                       classes=model.classes, spec=model.meta["spec"], metrics=None, artefact=model.to_bytes())
    with app_state(app).sessions() as session:
        session.add(job)
        session.flush()
        session.add(row)
        session.commit()
    return row.id


def cpu_per_predict(app, model_id: str, headers: dict, n_requests: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per predict, after a 10 % warm-up that loads and caches the model."""
    client = app.test_client()
    path = f"/v1/models/{model_id}/predict"
    for _ in range(n_requests // 10):
        client.post(path, json=BODY, headers=headers)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n_requests):
        if client.post(path, json=BODY, headers=headers).status_code != 200:
            raise RuntimeError(f"POST {path} did not answer 200")
    return (time.process_time() - cpu) / n_requests, (time.perf_counter() - wall) / n_requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500)
    options = parser.parse_args()
    print(f"- CPU: {cpu_model()}; load average at start: {load_average()}")
    access_log = logging.getLogger("axon.access")
    with bench_database() as database_url:
        settings = {"database_url": database_url, "broker_url": REDIS_URL, "rate_limit": "100000000/minute"}
        first = create_app(settings)
        model_id = add_model(first)
        headers = {"Authorization": f"Bearer {create_key(app_state(first).engine, LOCAL_TENANT)}"}
        app_state(first).engine.dispose()
        rows = []
        for name, overrides, logged in VARIANTS:
            access_log.disabled = not logged
            app = create_app({**settings, **overrides})
            cpu, wall = cpu_per_predict(app, model_id, headers, options.requests)
            app_state(app).engine.dispose()
            rows.append(f"| {name} | {cpu * 1e3:.3f} ms | {wall * 1e3:.3f} ms |")
        access_log.disabled = False
    print(f"\n## Cached single-row predict in process, {options.requests:,} requests per variant "
          "(PostgreSQL + Redis)\n\n| variant | CPU per request | wall per request |\n|---|---:|---:|")
    print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
