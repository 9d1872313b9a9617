"""The API and worker command lines, and ``axon serve``'s supervisor that runs both as children.

``axon serve`` and ``axon api`` bind the listening socket themselves and hand it to each API
process (``service.commands.http_server``), so a port in use fails at once and several processes share it.

The supervisor holds no state of its own: the database is the source of truth for jobs, so
stopping it, or killing it, loses nothing. On a clean stop the worker hands its job back at the
next epoch boundary (checkpoint, then ``queued``) and the next start resumes it at once; a job
cut off by a kill is left ``running`` with a heartbeat that goes stale, and the reconciler
resumes it from its last checkpoint after ``AXON_LEASE_SECONDS``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

APP_FACTORY = "service:create_app()"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL_SECONDS = 0.1
PR_SET_PDEATHSIG = 1  # From <linux/prctl.h>.
# Each open event stream holds a thread (at most AXON_MAX_EVENT_STREAMS of them); the rest serve
# polls and predicts, which are short. Slow clients hold none (see service.commands.http_server).
API_THREADS = 16
# The supervisor waits this much longer than an API process drains, so the drain ends first.
DRAIN_MARGIN_SECONDS = 2.0


def api_argv(fd: int, threads: int, grace_seconds: float) -> list[str]:
    """The command line of one API process, serving on the inherited listening socket ``fd``."""
    return [sys.executable, "-m", "service.commands.http_server", "--fd", str(fd), "--threads", str(threads),
            "--grace", f"{grace_seconds:g}"]


def api_commands(fd: int, processes: int, threads: int, grace_seconds: float) -> dict[str, list[str]]:
    """``processes`` API processes sharing the socket ``fd``, as gunicorn's workers share theirs."""
    if processes == 1:
        return {"api": api_argv(fd, threads, grace_seconds)}
    return {f"api-{number}": api_argv(fd, threads, grace_seconds) for number in range(1, processes + 1)}


def embedded_commands(fd: int, grace_seconds: float) -> dict[str, list[str]]:
    """The children of ``axon serve``: the API on the socket ``fd``, and one worker with the reconciler in it."""
    return {
        **api_commands(fd, 1, API_THREADS, grace_seconds),
        # The solo pool trains in the worker's own process: one job at a time, no grandchildren.
        "worker": celery_argv(pool="solo"),
    }


def gunicorn_control_socket(path: str) -> list[str]:
    """Options that put gunicorn's control socket at ``path``; none for a gunicorn without one (< 25.1).

    Axon serves with waitress; bench/ still measures gunicorn against it.
    """
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


def healthy(host: str, port: int) -> bool:
    """True when the API on ``host:port`` answers GET /healthz with 200."""
    import urllib.request

    probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    url = f"http://[{probe_host}]:{port}/healthz" if ":" in probe_host else f"http://{probe_host}:{port}/healthz"
    try:
        # A probe sent while the app loads waits in the backlog: too short a wait piles them up there.
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
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
                 grace_seconds: float, echo: Callable[[str], None], pass_fds: Sequence[int] = (),
                 name: str = "axon serve"):
        self.commands, self.name = commands, name
        self.pass_fds = tuple(pass_fds)  # The listening socket the API processes share.
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
        return subprocess.Popen(list(argv), env=self.env, preexec_fn=preexec, pass_fds=self.pass_fds)

    def _watch(self, ready: Callable[[], bool], on_ready: Callable[[], None]) -> int:
        announced = False
        while not self.signals:
            for child in self.children:
                exit_code = child.process.poll()
                if exit_code is not None:
                    self.echo(f"{self.name}: the {child.name} process exited with code {exit_code}; stopping.")
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
                self.echo(f"{self.name}: the {child.name} process did not stop within "
                          f"{self.grace_seconds:g} s; killing it. No job is lost: one cut off "
                          "resumes from its last checkpoint on the next start.")
                child.process.kill()
        for child in self.children:
            child.process.wait()
