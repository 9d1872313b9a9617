"""The API and worker command lines, and ``axon serve``'s supervisor that runs both as children.

The supervisor holds no state of its own: the database is the source of truth for jobs, so
stopping it, or killing it, loses nothing. On a clean stop the worker hands its job back at the
next epoch boundary (checkpoint, then ``queued``) and the next start resumes it at once; a job
cut off by a kill is left ``running`` with a heartbeat that goes stale, and the reconciler
resumes it from its last checkpoint after ``AXON_LEASE_SECONDS``.
"""

from __future__ import annotations

import ctypes
import math
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

APP_FACTORY = "service:create_app()"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL_SECONDS = 0.1
PR_SET_PDEATHSIG = 1  # From <linux/prctl.h>.
# Each open event stream holds a thread (at most AXON_MAX_EVENT_STREAMS of them); the rest serve
# polls and predicts, which are short.
API_THREADS = 16


def gunicorn_argv(host: str, port: int, workers: int, threads: int,
                  graceful_seconds: float | None = None, extra: Sequence[str] = ()) -> list[str]:
    """The gunicorn command line that serves the API; ``extra`` goes before the app."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    argv = [sys.executable, "-m", "gunicorn", "--bind", bind,
            "--workers", str(workers), "--threads", str(threads)]
    if graceful_seconds is not None:
        argv += ["--graceful-timeout", str(math.ceil(graceful_seconds))]  # gunicorn takes whole seconds.
    return [*argv, *extra, APP_FACTORY]


def embedded_commands(host: str, port: int, grace_seconds: float, home: Path) -> dict[str, list[str]]:
    """The children of ``axon serve``: the API, and one worker with the reconciler in it."""
    return {
        "api": gunicorn_argv(host, port, workers=1, threads=API_THREADS, graceful_seconds=grace_seconds,
                             extra=gunicorn_control_socket(str(home / "gunicorn.ctl"))),
        # The solo pool trains in the worker's own process: one job at a time, no grandchildren.
        "worker": celery_argv(pool="solo"),
    }


def gunicorn_control_socket(path: str) -> list[str]:
    """Options that put gunicorn's control socket at ``path``; none for a gunicorn without one (< 25.1)."""
    from gunicorn.config import KNOWN_SETTINGS

    if any(setting.name == "control_socket" for setting in KNOWN_SETTINGS):
        return ["--control-socket", path]
    return []


def celery_argv(concurrency: int = 1, pool: str = "prefork", extra: Sequence[str] = ()) -> list[str]:
    """The Celery worker command line that consumes the training queue; ``extra`` goes last."""
    from service.queue import TRAINING_QUEUE

    argv = [sys.executable, "-m", "celery", "--app", "worker.app", "worker",
            "--queues", TRAINING_QUEUE, "--pool", pool, "--loglevel", "INFO"]
    if pool != "solo":  # The solo pool runs tasks in the worker's own process; it has no size.
        argv += ["--concurrency", str(concurrency)]
    return [*argv, *extra]


def create_broker_tables(broker_url: str) -> None:
    """Create kombu's SQLAlchemy-transport tables now, so the API and the worker never race to."""
    from kombu import Connection

    from service.queue import TRAINING_QUEUE

    with Connection(broker_url) as connection:
        connection.default_channel.queue_declare(TRAINING_QUEUE)


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        with socket.create_connection((probe_host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _die_with_parent(parent_pid: int) -> None:
    """Runs in the child before exec: a SIGTERM when the supervisor dies, even by SIGKILL.

    Without it a supervisor killed alone would leave the API holding the port.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # The parent died before prctl took effect.
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Child:
    name: str
    process: subprocess.Popen

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


class Supervisor:
    """Start each command as a child, watch them, and stop them all together.

    Stops on SIGINT or SIGTERM: forwards SIGTERM, waits ``grace_seconds``, then kills what is
    left (at once on a second signal). A child that exits on its own stops the rest.
    """

    def __init__(self, commands: Mapping[str, Sequence[str]], env: Mapping[str, str],
                 grace_seconds: float, echo: Callable[[str], None]):
        self.commands = commands
        self.env = dict(env)
        self.grace_seconds = grace_seconds
        self.echo = echo
        self.children: list[Child] = []
        self.signals: list[int] = []

    def run(self, ready: Callable[[], bool], on_ready: Callable[[], None]) -> int:
        """Run until a stop signal (exit code 0) or a child's own exit (exit code 1)."""
        previous = {signum: signal.signal(signum, self._request_stop) for signum in STOP_SIGNALS}
        try:
            for name, argv in self.commands.items():
                self.children.append(Child(name, self._spawn(argv)))
            return self._watch(ready, on_ready)
        finally:
            self._stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _request_stop(self, signum: int, _frame) -> None:
        self.signals.append(signum)

    def _spawn(self, argv: Sequence[str]) -> subprocess.Popen:
        preexec = None
        if sys.platform.startswith("linux"):
            parent_pid = os.getpid()
            preexec = lambda: _die_with_parent(parent_pid)  # noqa: E731
        return subprocess.Popen(list(argv), env=self.env, preexec_fn=preexec)

    def _watch(self, ready: Callable[[], bool], on_ready: Callable[[], None]) -> int:
        announced = False
        while not self.signals:
            for child in self.children:
                exit_code = child.process.poll()
                if exit_code is not None:
                    self.echo(f"axon serve: the {child.name} process exited with code {exit_code}; stopping.")
                    return 1
            if not announced and ready():
                on_ready()
                announced = True
            time.sleep(POLL_SECONDS)
        return 0

    def _stop(self) -> None:
        for child in self.children:
            if child.alive:
                child.process.send_signal(signal.SIGTERM)
        signals_before = len(self.signals)
        deadline = time.monotonic() + self.grace_seconds
        while (any(child.alive for child in self.children) and time.monotonic() < deadline
               and len(self.signals) == signals_before):
            time.sleep(POLL_SECONDS)
        for child in self.children:
            if child.alive:
                self.echo(f"axon serve: the {child.name} process did not stop within "
                          f"{self.grace_seconds:g} s; killing it. No job is lost: one cut off "
                          "resumes from its last checkpoint on the next start.")
                child.process.kill()
        for child in self.children:
            child.process.wait()
