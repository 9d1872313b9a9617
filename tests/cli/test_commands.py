"""The ``axon`` command line: its commands, its exit codes, ``db upgrade`` and what ``api``/``worker`` exec."""

from __future__ import annotations

import os
import socket
import subprocess
import tomllib
from pathlib import Path

import pytest
import sqlalchemy
from click.testing import CliRunner

import service.commands.serving
from axon.cli import cli
from service.database import Base
from service.tables import Job  # noqa: F401  (registers the tables on Base.metadata)
from service.queue import TRAINING_QUEUE
from service.settings import Settings

from tests.support.processes import AXON, REPO_ROOT, clean_env, free_port

COMMANDS = ("serve", "api", "worker", "db", "settings", "train", "watch", "jobs", "status", "metrics", "cancel",
            "datasets", "dataset", "model", "predict", "export", "evaluate", "keys", "sweep", "sweeps",
            "sweep-status", "sweep-cancel")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="axon")


def test_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == set(COMMANDS)
    assert "upgrade" in invoke("db", "--help").output


def test_console_script_runs_the_cli(tmp_path):
    """pyproject's ``axon`` script names ``main``, and ``python -m axon`` reaches the same commands."""
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["axon"] == "axon.cli:main"
    completed = subprocess.run([*AXON, "--help"], env=clean_env(AXON_HOME=str(tmp_path)),
                               capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0, completed.stderr
    assert all(command in completed.stdout for command in COMMANDS)


@pytest.mark.parametrize("argv", [
    ["nonsense"],
    ["serve", "--port", "0"],
    ["serve", "--port", "http"],
    ["serve", "--grace", "-1"],
    ["api", "--workers", "0"],
    ["worker", "--loglevel", "DEBUG"],  # Celery's own options go after --.
    ["db", "upgrade", "head", "extra"],
    ["db"],
])
def test_bad_arguments_exit_2_with_usage(argv, axon_env):
    result = invoke(*argv)
    assert result.exit_code == 2
    assert "Usage: axon" in result.output


def test_invalid_setting_is_a_one_line_error_not_a_traceback(axon_env, monkeypatch):
    monkeypatch.setenv("AXON_LEASE_SECONDS", "-1")
    result = invoke("settings")
    assert result.exit_code == 1
    assert "lease_seconds" in result.output
    assert isinstance(result.exception, SystemExit)


def test_db_upgrade_creates_every_table(tmp_path, axon_env, monkeypatch):
    url = f"sqlite:///{tmp_path / 'upgrade.db'}"
    monkeypatch.setenv("AXON_DATABASE_URL", url)
    first, again = invoke("db", "upgrade"), invoke("db", "upgrade")
    assert (first.exit_code, again.exit_code) == (0, 0), first.output + again.output
    engine = sqlalchemy.create_engine(url)
    try:
        assert set(sqlalchemy.inspect(engine).get_table_names()) == {*Base.metadata.tables, "alembic_version"}
    finally:
        engine.dispose()
    assert not axon_env.exists()  # An explicit database URL leaves AXON_HOME alone.


def test_db_upgrade_on_the_default_database_creates_axon_home(axon_env):
    result = invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert (axon_env / "axon.db").is_file()


def test_db_upgrade_to_an_unknown_revision_fails_cleanly(axon_env):
    result = invoke("db", "upgrade", "no-such-revision")
    assert result.exit_code == 1
    assert "no-such-revision" in result.output
    assert isinstance(result.exception, SystemExit)


def test_settings_lists_every_setting_and_hides_passwords(axon_env, monkeypatch):
    monkeypatch.setenv("AXON_DATABASE_URL", "postgresql+psycopg://axon:s3cret@db.example/axon")
    monkeypatch.setenv("AXON_MAX_ROWS", "1234")
    result = invoke("settings")
    assert result.exit_code == 0
    variables = {line.split()[0]: line.split()[1] for line in result.output.splitlines()}
    assert set(variables) == set(Settings.variables())
    assert variables["AXON_MAX_ROWS"] == "1234"
    assert "db.example" in variables["AXON_DATABASE_URL"]
    assert "s3cret" not in result.output


def test_settings_markdown_has_a_row_per_setting(axon_env):
    lines = invoke("settings", "--markdown").output.splitlines()
    assert lines[0] == "| Variable | Value | Description |"
    assert len(lines) == 2 + len(Settings.variables())
    assert all(line.startswith("| `AXON_") and line.endswith(" |") for line in lines[2:])


class ExecCalls(list):
    """The argument vectors exec'd, in order; ``envs`` holds the environment each was given (None: this one's)."""

    def __init__(self):
        super().__init__()
        self.envs: list[dict | None] = []


@pytest.fixture
def exec_calls(monkeypatch):
    """Record what ``api`` and ``worker`` would exec instead of replacing the test process; the
    environments they would exec it in are in ``calls.envs``."""
    calls = ExecCalls()

    def record(argv, env=None):
        calls.append(list(argv))
        calls.envs.append(env)

    monkeypatch.setattr(service.commands.serving, "exec_argv", record)
    return calls


class RecordedSupervisor:
    """Stands in for ``service.commands.supervisor.Supervisor``: keeps what it was asked to run, runs nothing."""

    runs: list["RecordedSupervisor"] = []

    def __init__(self, commands, env, grace_seconds, echo, pass_fds=(), name="axon serve"):
        self.commands, self.env, self.grace_seconds, self.pass_fds = commands, env, grace_seconds, pass_fds
        RecordedSupervisor.runs.append(self)

    def run(self, ready, on_ready) -> int:
        return 0


def test_api_runs_its_processes_on_one_inherited_socket(axon_env, monkeypatch):
    RecordedSupervisor.runs = []
    monkeypatch.setattr(service.commands.serving, "Supervisor", RecordedSupervisor)
    result = invoke("api", "--host", "127.0.0.1", "--port", str(free_port()), "--workers", "3", "--threads", "12", "--grace", "4")
    assert result.exit_code == 0, result.output
    [run] = RecordedSupervisor.runs
    assert list(run.commands) == ["api-1", "api-2", "api-3"]
    [fd] = run.pass_fds
    for argv in run.commands.values():
        assert argv[1:3] == ["-m", "service.commands.http_server"]
        assert argv[argv.index("--fd") + 1] == str(fd)
        assert argv[argv.index("--threads") + 1] == "12"
        assert argv[argv.index("--grace") + 1] == "4"
    assert run.grace_seconds > 4  # The supervisor outwaits the processes' own drain.
    # The processes get an empty folder for their metrics; this process's environment is untouched.
    folder = Path(run.env["PROMETHEUS_MULTIPROC_DIR"])
    assert folder.is_dir() and not any(folder.iterdir())
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_api_exits_1_when_its_port_is_taken(axon_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("api", "--host", "127.0.0.1", "--port", str(port))
    assert result.exit_code == 1
    assert f"127.0.0.1:{port} is already in use" in result.output


def test_worker_execs_celery_on_the_training_queue(axon_env, exec_calls):
    result = invoke("worker", "-c", "2", "--", "--loglevel", "DEBUG")
    assert result.exit_code == 0, result.output
    [argv] = exec_calls
    assert argv[1:5] == ["-m", "celery", "--app", "worker.app"]
    assert argv[argv.index("--queues") + 1] == TRAINING_QUEUE
    assert argv[argv.index("--concurrency") + 1] == "2"
    assert argv[-2:] == ["--loglevel", "DEBUG"]


def test_worker_command_line_is_one_celery_accepts(tmp_path):
    """The real exec: Celery loads ``worker.app`` and parses every option before --help exits."""
    completed = subprocess.run([*AXON, "worker", "--", "--help"],
                               env=clean_env(AXON_HOME=str(tmp_path)), cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert "--queues" in completed.stdout
