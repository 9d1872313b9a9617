"""The worker's telemetry without Celery: epoch durations, the job id in its log lines, its /metrics server."""

from __future__ import annotations

import io
import json
import logging
import threading

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from service.logs import job_context
from worker import telemetry
from worker.runner import Outcome, run_job

from tests.support.rows import add_dataset, add_job
from tests.support.specs import job_spec


def epochs_observed() -> float:
    return REGISTRY.get_sample_value("axon_epoch_seconds_count") or 0.0


def test_each_epoch_is_observed_and_every_line_of_the_run_names_the_job(engine, json_log):
    job_id = add_job(engine, add_dataset(engine), job_spec(epochs=5))
    before = epochs_observed()

    assert run_job(job_id) == Outcome.SUCCEEDED

    assert epochs_observed() == before + 5
    worker_lines = [line for line in json_log() if line["logger"].startswith("worker.")]
    assert any("training from epoch 0" in line["message"] for line in worker_lines)
    assert any("succeeded" in line["message"] for line in worker_lines)
    assert {line["job_id"] for line in worker_lines} == {job_id}


def test_a_thread_started_in_a_job_context_logs_the_job_id(json_log):
    log = logging.getLogger("worker.heartbeat")
    with job_context("job-7"):
        thread = threading.Thread(target=lambda: log.warning("heartbeat found the lease gone"))
        telemetry.start_in_this_context(thread)
        plain = threading.Thread(target=lambda: log.warning("a thread started as usual"))
        plain.start()
    thread.join()
    plain.join()

    lines = {line["message"]: line for line in json_log()}
    assert lines["heartbeat found the lease gone"]["job_id"] == "job-7"
    assert "job_id" not in lines["a thread started as usual"]  # Why start_in_this_context exists.


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_celery_handlers_are_restyled_only_for_json(log_format):
    celery_format = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(celery_format))
    logger = logging.getLogger(f"test-celery-{log_format}")
    logger.addHandler(handler)
    logger.propagate = False

    telemetry.restyle_celery_logging(logger, log_format)
    with job_context("job-9"):
        logger.warning("job job-9 attempt 1: training from epoch 0")

    line = stream.getvalue()
    if log_format == "text":  # Celery's own format, which people and the test suites read.
        assert line.startswith("[") and "/MainProcess] job job-9 attempt 1: training from epoch 0" in line
    else:
        parsed = json.loads(line)
        assert (parsed["message"], parsed["job_id"], parsed["level"]) == (
            "job job-9 attempt 1: training from epoch 0", "job-9", "WARNING")
    logger.removeHandler(handler)


def test_the_worker_metrics_server_serves_the_epoch_histogram(engine):
    run_job(add_job(engine, add_dataset(engine), job_spec(epochs=2)))
    server = telemetry.serve_metrics(0)  # Port 0: any free port.
    try:
        response = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10)
    finally:
        server.shutdown()
        server.server_close()

    assert response.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    counts = [sample.value for sample in families["axon_epoch_seconds"].samples if sample.name.endswith("_count")]
    assert counts == [epochs_observed()] and counts[0] >= 2


def test_a_taken_port_leaves_the_worker_without_metrics_not_stopped(caplog):
    server = telemetry.serve_metrics(0)
    try:
        assert telemetry.serve_metrics(server.server_port) is None
    finally:
        server.shutdown()
        server.server_close()
    assert "cannot listen on port" in caplog.text
