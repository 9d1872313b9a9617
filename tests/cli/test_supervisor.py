"""``axon serve``'s supervisor, with tiny Python children standing in for gunicorn and Celery."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from service.commands.supervisor import Supervisor

from tests.support.processes import AXON, clean_env

# A child that notes its start, and on SIGTERM notes it and exits (or ignores it, with "stubborn").
CHILD = """
import pathlib, signal, sys, time
folder, name, mode = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
def on_term(*_):
    (folder / f"{name}.term").touch()
    if mode != "stubborn":
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
(folder / f"{name}.started").touch()
if mode == "exits":
    sys.exit(3)
time.sleep(60)
"""


def child(folder, name: str, mode: str = "polite") -> list[str]:
    return [sys.executable, "-c", CHILD, str(folder), name, mode]


def run(tmp_path, commands: dict, grace_seconds: float = 5.0):
    """Run a supervisor that gets SIGTERM once every child has started; (exit code, lines, seconds)."""
    lines: list[str] = []
    supervisor = Supervisor(commands, clean_env(), grace_seconds, echo=lines.append)
    started = time.monotonic()
    exit_code = supervisor.run(
        ready=lambda: all((tmp_path / f"{name}.started").exists() for name in commands),
        on_ready=lambda: os.kill(os.getpid(), signal.SIGTERM),
    )
    assert all(not child.alive for child in supervisor.children)
    return exit_code, lines, time.monotonic() - started


def test_a_stop_signal_reaches_every_child_and_exits_0(tmp_path):
    exit_code, lines, _ = run(tmp_path, {"api": child(tmp_path, "api"), "worker": child(tmp_path, "worker")})
    assert exit_code == 0
    assert (tmp_path / "api.term").exists() and (tmp_path / "worker.term").exists()
    assert lines == []


def test_a_child_that_ignores_the_stop_is_killed_after_the_grace_period(tmp_path):
    exit_code, lines, seconds = run(tmp_path, {"worker": child(tmp_path, "worker", "stubborn")}, grace_seconds=0.5)
    assert exit_code == 0
    assert (tmp_path / "worker.term").exists()
    assert 0.5 <= seconds < 10
    assert any("worker" in line and "killing" in line for line in lines)


def test_a_child_that_exits_on_its_own_stops_the_rest_and_exits_1(tmp_path):
    lines: list[str] = []
    commands = {"api": child(tmp_path, "api", "exits"), "worker": child(tmp_path, "worker")}
    supervisor = Supervisor(commands, clean_env(), 5.0, echo=lines.append)
    assert supervisor.run(ready=lambda: False, on_ready=lambda: None) == 1
    assert any("api" in line and "code 3" in line for line in lines)
    worker = supervisor.children[1].process
    assert worker.returncode is not None
    # SIGTERM reached it, unless it was stopped before it could install its handler.
    assert (tmp_path / "worker.term").exists() or worker.returncode == -signal.SIGTERM


def test_serve_exits_non_zero_when_its_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        completed = subprocess.run([*AXON, "serve", "--port", str(port)], env=clean_env(AXON_HOME=str(tmp_path)),
                                   cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in completed.stderr
    assert not (tmp_path / ".axon").exists()  # Refused before touching any state.


def test_children_get_sigterm_when_the_supervisor_is_killed_alone(tmp_path):
    """No orphan keeps the port: the children learn of a SIGKILLed supervisor (Linux)."""
    script = (
        "import sys; from service.commands.supervisor import Supervisor; "
        f"Supervisor({{'worker': {child(tmp_path, 'worker')!r}}}, {{}}, 5.0, print)"
        ".run(ready=lambda: False, on_ready=lambda: None)"
    )
    supervisor = subprocess.Popen([sys.executable, "-c", script], env=clean_env())
    try:
        wait_for(lambda: (tmp_path / "worker.started").exists())
    finally:
        supervisor.kill()
        supervisor.wait()
    wait_for(lambda: (tmp_path / "worker.term").exists())


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
