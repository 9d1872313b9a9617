"""Running ``axon`` (and other servers) as real processes: the command line, a clean environment, a
free port, and a process group started with its output in a log, waited on, and stopped.

The test suites and bench/ (bench/service_processes.py) both start their processes with these."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
AXON = [sys.executable, "-m", "axon"]
START_SECONDS = 60
STOP_SECONDS = 20


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any AXON_* variable, plus ``settings``.

    PYTHONPATH names the repository, so the commands import this checkout wherever they run.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("AXON_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(settings)
    return env


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spawn(argv: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None,
          append: bool = False) -> subprocess.Popen:
    """Start ``argv`` with stdout and stderr in ``log_path`` (appended to, for a restart).

    Its own process group, so that it and every child it starts (gunicorn, a worker) are
    signalled together.
    """
    with open(log_path, "a" if append else "w") as log:
        return subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def log_tail(log_path: Path, chars: int = 6000) -> str:
    return log_path.read_text(errors="replace")[-chars:]


def wait_until(process: subprocess.Popen, condition: Callable[[], bool], log_path: Path, what: str,
               seconds: float = START_SECONDS) -> None:
    """Poll ``condition`` until it holds; fail with the log's tail if ``process`` exits or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"the process exited while waiting for {what}:\n{log_tail(log_path)}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log_tail(log_path)}"
        time.sleep(0.2)


def healthy(url: str) -> bool:
    """Whether the server at ``url`` answers GET /healthz with 200 (False while nothing listens)."""
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def wait_until_healthy(process: subprocess.Popen, url: str, log_path: Path, seconds: float = START_SECONDS) -> None:
    """Wait for ``url``'s /healthz to answer 200; fail with the log's tail if ``process`` dies first."""
    wait_until(process, lambda: healthy(url), log_path, f"{url}/healthz", seconds)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process's whole group, as a crash would, and reap the leader."""
    with contextlib.suppress(ProcessLookupError):  # The group has already gone.
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def stop_group(process: subprocess.Popen, seconds: float = STOP_SECONDS) -> None:
    """SIGTERM the process's group (a clean stop), then SIGKILL whatever of it is left: all of it
    if the leader outlives ``seconds``, else any child that outlived the leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=seconds)
    kill_group(process)


@contextlib.contextmanager
def started(argv: list[str], env: dict[str, str], log_path: Path, ready: Callable[[], bool], cwd: Path | None = None,
            seconds: float = START_SECONDS, what: str | None = None) -> Iterator[subprocess.Popen]:
    """Run ``argv`` in its own process group for the block, from when ``ready()``; then stop the group.

    Fails with the log's tail if the process exits or ``seconds`` pass before it is ready.
    """
    process = spawn(argv, env, log_path, cwd)
    try:
        wait_until(process, ready, log_path, what or " ".join(argv[1:4]), seconds)
        yield process
    finally:
        stop_group(process)


def started_server(argv: list[str], env: dict[str, str], url: str, log_path: Path, cwd: Path | None = None,
                   seconds: float = START_SECONDS):
    """Run the server ``argv`` (listening at ``url``) for the block, from when it is healthy; then stop its group."""
    return started(argv, env, log_path, lambda: healthy(url), cwd, seconds, f"{url}/healthz")
