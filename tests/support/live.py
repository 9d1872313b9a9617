"""A live ``axon serve`` for the client tests, and ``axon`` commands run against it as real processes."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Iterator

import httpx

from .processes import AXON, clean_env, free_port, started_server


@contextlib.contextmanager
def live_server(folder: Path, **settings: str) -> Iterator[str]:
    """Run ``axon serve`` on a free port with its state under ``folder``; yield its URL once healthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with started_server([*AXON, "serve", "--port", str(port), "--grace", "1"],
                        clean_env(AXON_HOME=str(folder / "home"), **settings), url, folder / "serve.log", cwd=folder):
        yield url


def axon(url: str, *args: str, cwd=None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``axon ARGS`` against the server at ``url`` (as AXON_URL) and capture its output."""
    return subprocess.run([*AXON, *args], env=clean_env(AXON_URL=url), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def metrics_epochs(client: httpx.Client, job_id: str) -> list[int]:
    """The epoch of every metrics row of the job, following ``next`` through every page."""
    epochs, path = [], f"/v1/jobs/{job_id}/metrics"
    while path:
        response = client.get(path)
        assert response.status_code == 200, response.text
        epochs += [record["epoch"] for record in response.json()["items"]]
        path = response.json()["next"]
    return epochs
