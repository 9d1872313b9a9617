"""A live ``axon serve`` for the client tests, and ``axon`` commands run against it as real processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import httpx

from .processes import AXON, clean_env, free_port


@contextlib.contextmanager
def live_server(folder: Path, **settings: str) -> Iterator[str]:
    """Run ``axon serve`` on a free port with its state under ``folder``; yield its URL once healthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = folder / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([*AXON, "serve", "--port", str(port), "--grace", "1"],
                                   env=clean_env(AXON_HOME=str(folder / "home"), **settings),
                                   cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def axon(url: str, *args: str, cwd=None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``axon ARGS`` against the server at ``url`` (as AXON_URL) and capture its output."""
    return subprocess.run([*AXON, *args], env=clean_env(AXON_URL=url), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
