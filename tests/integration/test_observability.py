"""Observability over real processes: a prefork worker's own /metrics adds up what its pool child
observed, its log is JSON naming the job, and the API's /metrics reads PostgreSQL and Redis."""

from __future__ import annotations

import json
import re
import time
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import free_port
from tests.support.rows import job_row

from .test_stopping import add_job, send_to
from .test_training import SPEC, create_dataset, wait_for
from service.app_state import app_state

EPOCHS = 12


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_a_prefork_worker_reports_its_epochs_and_logs_json_naming_the_job(api, api_app, start_worker, tmp_path):
    queue, port = f"observed-{uuid.uuid4().hex[:8]}", free_port()
    # TMPDIR: the worker makes its metrics folder there, and a killed worker cannot remove it.
    observed = start_worker(queue=queue, settings={"AXON_WORKER_METRICS_PORT": str(port), "AXON_LOG_FORMAT": "json",
                                                   "TMPDIR": str(tmp_path)})
    job_id, _ = add_job(api_app, create_dataset(api), {**SPEC, "epochs": EPOCHS})
    send_to(api_app, queue, job_id)
    assert wait_for(api, job_id, {"succeeded", "failed", "cancelled"})["status"] == "succeeded", observed.log()

    # Trained in the pool's child process, served by the main process: multiprocess mode adds it up.
    deadline = time.monotonic() + 10
    while True:
        try:
            scraped = samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"no worker metrics on port {port}:\n{observed.log()}"
            time.sleep(0.2)
    assert scraped[("axon_epoch_seconds_count", ())] == EPOCHS
    assert len(list(tmp_path.glob("axon-worker-metrics-*"))) == 1
    assert 0 < scraped[("axon_epoch_seconds_sum", ())] <= job_row(api_app, job_id).train_seconds

    # Celery's banner is plain text; every log line is one JSON object, none in Celery's text format.
    log = observed.log()
    assert not re.search(r"^\[\d{4}-\d\d-\d\d [\d:,]+: \w+/", log, flags=re.MULTILINE), log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    job_lines = [line for line in lines if line["logger"].startswith("worker.")
                 and line["message"].startswith(f"job {job_id}")]
    assert any(" attempt 1: training from epoch 0" in line["message"] for line in job_lines), log
    assert all(line.get("job_id") == job_id for line in job_lines), job_lines

    observed.stop()  # A warm shutdown removes the metrics folder.
    assert observed.process.returncode == 0 and not list(tmp_path.glob("axon-worker-metrics-*")), observed.log()


def test_the_api_metrics_read_the_database_and_the_redis_broker(api, api_app):
    def succeeded() -> int:
        with app_state(api_app).engine.connect() as connection:
            return connection.exec_driver_sql("SELECT count(*) FROM jobs WHERE status = 'succeeded'").scalar_one()

    before = succeeded()
    with httpx.Client(base_url=str(api.base_url), timeout=10) as client:  # No API key: /metrics is public.
        scraped = samples(client.get("/metrics").text)
    after = succeeded()  # Jobs of earlier tests may still finish meanwhile.

    assert scraped[("axon_database_up", ())] == 1
    assert scraped[("axon_broker_up", ())] == 1
    assert scraped[("axon_broker_queue_length", ())] >= 0
    assert before <= scraped[("axon_jobs", (("status", "succeeded"),))] <= after
