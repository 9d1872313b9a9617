"""The API's side of an embedded job's wait: POST /v1/jobs and its publish to the SQLite broker.

In process (Flask test client, SQLite database and ``sqla+sqlite`` broker in a temporary folder,
no worker): ``--requests`` POSTs of a one-epoch job, each request's wall time and the
``publish_job`` call inside it. After 16 the tenant's active-job limit answers 429 without
publishing, so only the publishes that happened are counted.

Run: ``.venv/bin/python bench/embedded_publish.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import migrations  # noqa: E402
import service.api.jobs  # noqa: E402
from service.app_state import app_state  # noqa: E402
from service.commands.supervisor import create_broker_tables  # noqa: E402
from service import create_app  # noqa: E402
from service.queue import publish_job  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    arguments = parser.parse_args()
    logging.disable(logging.INFO)
    folder = Path(tempfile.mkdtemp(prefix="axon-bench-"))
    migrations.upgrade(f"sqlite:///{folder / 'axon.db'}")
    app = create_app({"home": folder, "auth": False})
    create_broker_tables(app_state(app).settings.resolved_broker_url)
    publishes: list[float] = []

    def timed_publish(job_id, celery_app=None):
        began = time.perf_counter()
        try:
            return publish_job(job_id, celery_app)
        finally:
            publishes.append(time.perf_counter() - began)

    service.api.jobs.publish_job = timed_publish
    client = app.test_client()
    dataset = client.post("/v1/datasets", json={"generator": {"kind": "spiral", "n_samples": 50}}).get_json()
    requests = []
    for _ in range(arguments.requests):
        began = time.perf_counter()
        client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": {"layers": [{"units": 4}], "epochs": 1}})
        requests.append(time.perf_counter() - began)
    print(f"load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}: POST /v1/jobs median "
          f"{statistics.median(requests[1:]) * 1e3:.1f} ms, of which publish_job median "
          f"{statistics.median(publishes[1:]) * 1e3:.1f} ms ({len(publishes) - 1} publishes after the first)")


if __name__ == "__main__":
    main()
