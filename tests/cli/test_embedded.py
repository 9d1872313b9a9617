"""The embedded default end to end: ``axon serve`` with only AXON_HOME set, restarted mid-job.

The job is stopped twice mid-way, once cleanly (SIGTERM: the worker hands it back) and once by
a crash (SIGKILL of the whole process group), and must still succeed with exactly one metrics
row per epoch.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from service.job_states import FINISHED_STATUSES
from tests.support.live import metrics_epochs
from tests.support.processes import (
    AXON, clean_env, free_port, kill_group, log_tail, spawn, wait_until, wait_until_healthy,
)

# Short leases and reconciler periods so a killed job is taken over in seconds, not a minute.
FAST_RECOVERY = {
    "AXON_AUTH": "off",  # About restarts, not keys (tests/cli/test_keys.py has those).
    "AXON_LEASE_SECONDS": "3",
    "AXON_RECONCILE_SECONDS": "1",
    "AXON_REPUBLISH_SECONDS": "2",
    "AXON_MAX_ATTEMPTS": "10",  # Leave room to spare: this test is about resuming, not giving up.
}
# 3 to 10 ms an epoch with its metrics row, so 3 to 10 s of training: each cut comes at most
# about 1.5 s into a run, well before its end, and the test stays short.
EPOCHS = 1_000
SPEC = {
    "layers": [{"units": 16, "activation": "tanh"}, {"units": 16, "activation": "tanh"}],
    "epochs": EPOCHS,
    "batch_size": 10,
    "device": "cpu",
}


class Serve:
    """``axon serve`` in its own process group, its output in a log file for failure messages."""

    def __init__(self, home: Path, port: int):
        self.home, self.port = home, port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = home.parent / "serve.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        # Appended to: the log of every start, for the failure message of a later one.
        self.process = spawn([*AXON, "serve", "--port", str(self.port), "--grace", "1"],
                             clean_env(AXON_HOME=str(self.home), **FAST_RECOVERY), self.log_path,
                             cwd=self.home.parent, append=True)
        wait_until_healthy(self.process, self.url, self.log_path)

    def terminate(self) -> int:
        """SIGTERM to ``axon serve`` alone, as an init system or Ctrl+C would; its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def crash(self) -> None:
        """SIGKILL the whole process group: the supervisor, gunicorn and the worker at once."""
        kill_group(self.process)

    def get(self, path: str) -> httpx.Response:
        try:
            return httpx.get(f"{self.url}{path}", timeout=10)
        except httpx.TransportError:
            return httpx.Response(599)

    def job(self, job_id: str) -> dict:
        response = self.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for(self, condition, seconds: float, what: str) -> None:
        wait_until(self.process, condition, self.log_path, what, seconds)

    def log(self) -> str:
        return log_tail(self.log_path)


@pytest.fixture
def serve(tmp_path):
    server = Serve(tmp_path / "home", free_port())
    yield server
    if server.process is not None and server.process.poll() is None:
        kill_group(server.process)


@pytest.mark.slow
def test_a_job_survives_a_stop_and_a_crash_of_axon_serve(serve):
    serve.start()
    client = httpx.Client(base_url=serve.url, timeout=10)
    dataset = client.post("/v1/datasets", json={"generator": {"kind": "spiral", "n_samples": 200}})
    assert dataset.status_code == 201, dataset.text
    submitted = client.post("/v1/jobs", json={"dataset_id": dataset.json()["id"], "spec": SPEC})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]

    # A clean stop mid-job: the supervisor exits 0, and the worker has handed the job back,
    # queued and unpublished for the next start, without counting the attempt.
    serve.wait_for(lambda: serve.job(job_id)["epoch"] > 0, seconds=30, what="the first epoch")
    assert serve.terminate() == 0, serve.log()
    with sqlite3.connect(serve.home / "axon.db") as database:
        handed_back = database.execute(
            "SELECT status, attempts, lease_token, published_at, epoch FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert handed_back[:4] == ("queued", 0, None, None), serve.log()
    assert 0 < handed_back[4] < EPOCHS

    # The next start resumes it at once (its first attempt still), then dies with it mid-way.
    serve.start()
    serve.wait_for(lambda: serve.job(job_id)["status"] == "running", seconds=30, what="the job to resume")
    assert serve.job(job_id)["attempts"] == 1
    serve.crash()

    # The third start finishes it, as if it had never been interrupted.
    serve.start()
    serve.wait_for(lambda: serve.job(job_id)["status"] in FINISHED_STATUSES, seconds=60, what="the job to finish")
    job = serve.job(job_id)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2  # The crash counts; the clean stop did not.
    assert (job["epoch"], job["progress"]) == (EPOCHS, 1.0)
    assert metrics_epochs(client, job_id) == list(range(1, EPOCHS + 1))
    prediction = client.post(f"/v1/models/{job['model_id']}/predict", json={"inputs": [[0.0, 0.0], [1.0, -1.0]]})
    assert prediction.status_code == 200, prediction.text
    assert len(prediction.json()["predictions"]) == 2
    assert serve.terminate() == 0, serve.log()
