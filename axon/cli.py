"""The ``axon`` command: the server commands ``serve``, ``api``, ``worker``, ``db upgrade`` and
``settings`` here, and the client commands from ``axon.cli_jobs`` (``train``, ``watch``, ``jobs``,
``status``, ``metrics``, ``cancel``) and ``axon.cli_data`` (``datasets``, ``dataset``, ``model``,
``predict``, ``export``) and ``axon.cli_sweeps`` (``sweep``, ``sweeps``, ``sweep-status``,
``sweep-cancel``), and the operator's ``keys`` (``axon.cli_keys``).

The server commands read their configuration from the ``AXON_*`` environment variables (see
``service.settings``); the client commands talk to a server at ``--url``/``AXON_URL`` through
:class:`axon.Client`. Heavy imports (Flask, Celery, Alembic) happen inside the commands, so
``axon --help`` stays quick.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import click

from axon.cli_data import DATA_COMMANDS
from axon.cli_jobs import JOB_COMMANDS
from axon.cli_sweeps import SWEEP_COMMANDS
from axon.cli_keys import keys
from axon.serve import (API_THREADS, DRAIN_MARGIN_SECONDS, Supervisor, api_commands, celery_argv,
                        create_broker_tables, embedded_commands, healthy)

PORT = click.IntRange(1, 65535)


# What the server commands import; the client alone (`pip install axon`) has none of them.
SERVER_MODULES = ("flask", "celery", "sqlalchemy", "alembic", "waitress", "pydantic_settings")


def require_server_extra() -> None:
    """A clean CLI error naming the server extra, not an ImportError traceback, without it."""
    import importlib.util

    missing = []
    for name in SERVER_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:
            found = False
        if not found:
            missing.append(name)
    if missing:
        command = click.get_current_context().command_path
        raise click.ClickException(f"`{command}` runs the server, which needs the server extra: "
                                   f"pip install 'axon[server]' (missing: {', '.join(missing)})")


def load_settings():
    """The settings from the environment; an invalid ``AXON_*`` value is a clean CLI error."""
    require_server_extra()
    from pydantic import ValidationError

    from service.settings import Settings

    try:
        return Settings()
    except ValidationError as error:
        raise click.ClickException(f"invalid AXON_* setting: {error}") from None


def check_auth_off_on_loopback(settings, host: str) -> None:
    """Refuse to serve without API keys on an address other machines can reach."""
    if settings.auth or is_loopback(host):
        return
    raise click.ClickException(
        f"AXON_AUTH=off is allowed only on a loopback address (127.0.0.1, ::1, localhost), not {host}: "
        "anyone who reached it would act as tenant 'local'. Leave auth on and make keys with "
        "`axon keys create --tenant NAME`.")


def check_threads_outnumber_streams(settings, threads: int) -> None:
    """Refuse a configuration where open event streams could take every thread of a process."""
    if settings.max_event_streams >= threads:
        raise click.ClickException(
            f"AXON_MAX_EVENT_STREAMS ({settings.max_event_streams}) must be below the threads per process "
            f"({threads}): each open stream holds a thread, and other requests need one too.")


def fresh_metrics_folder(port: int) -> Path:
    """An empty folder for prometheus_client's multiprocess mode, which adds up the API processes'
    predict histograms through files there; one per port, emptied at each start."""
    folder = Path(tempfile.gettempdir()) / f"axon-metrics-{port}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def listen_or_fail(host: str, port: int):
    """The listening socket for the API processes; a clean CLI error when the port is taken."""
    from axon.http_server import listen

    try:
        return listen(host, port)
    except OSError as error:
        raise click.ClickException(f"{host}:{port} is already in use or cannot be bound ({error.strerror}); "
                                   "pick another --port.") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # A host name: it could resolve anywhere.
        return False


def auth_notice(settings, base_url: str) -> str:
    if settings.auth:
        return "auth:     on; send Authorization: Bearer <key> (make one with: axon keys create --tenant NAME)"
    return (f"auth:     OFF (AXON_AUTH=off, loopback only): every request to {base_url} acts as tenant "
            "'local'")


def masked(url: str) -> str:
    """``url`` with any password hidden, fit to print."""
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(url)


def database_notice(settings) -> str:
    """``database: URL``, the line each server command prints at start; with the default SQLite, where
    a relative AXON_HOME (the default ``.axon``) was resolved from."""
    notice = f"database: {masked(settings.resolved_database_url)}"
    if settings.database_url is None and not settings.home.is_absolute():
        notice += f" (AXON_HOME={settings.home}, relative to the current folder {Path.cwd()})"
    return notice


def upgrade_database(settings, revision: str = "head") -> None:
    """Run the Alembic migrations on the configured database, creating AXON_HOME if it holds it."""
    from alembic.util import CommandError

    from migrations import upgrade

    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(settings.resolved_database_url, revision)
    except CommandError as error:
        raise click.ClickException(f"migration failed: {error}") from None


def exec_argv(argv: Sequence[str], env: dict[str, str] | None = None) -> None:
    """Replace this process with ``argv`` (in ``env``, default this one's), so signals reach
    Celery directly."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], list(argv), os.environ if env is None else env)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="axon", prog_name="axon")
def cli() -> None:
    """Axon: a REST service that trains multi-layer perceptrons."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, type=PORT, show_default=True, help="Port to listen on.")
@click.option("--grace", default=10.0, type=click.FloatRange(min=0), show_default=True,
              help="Seconds to wait for a clean stop before killing a busy child.")
def serve(host: str, port: int, grace: float) -> None:
    """Run the API and one worker on this machine, all state under AXON_HOME.

    With no configuration it needs no outside services: SQLite holds the jobs and a SQLite-backed
    queue carries the work. Stopping it loses no job; a job cut off mid-way resumes from its last
    checkpoint on the next start.
    """
    require_server_extra()
    sock = listen_or_fail(host, port)  # Before any state is touched.
    settings = load_settings()
    check_auth_off_on_loopback(settings, host)
    check_threads_outnumber_streams(settings, API_THREADS)
    home = settings.home.absolute()
    home.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings)
    if settings.resolved_broker_url.startswith("sqla+"):
        create_broker_tables(settings.resolved_broker_url)
    base_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def announce() -> None:
        click.echo(f"Axon is serving {base_url} (API docs: {base_url}/docs)\n"
                   f"  {database_notice(settings)}\n"
                   f"  broker:   {masked(settings.resolved_broker_url)}\n"
                   f"  {auth_notice(settings, base_url)}\n"
                   "Press Ctrl+C to stop.")

    # Children resolve AXON_HOME to the same folder even if they change directory.
    env = {**os.environ, "AXON_HOME": str(home)}
    supervisor = Supervisor(embedded_commands(sock.fileno(), grace), env, grace + DRAIN_MARGIN_SECONDS,
                            echo=lambda line: click.echo(line, err=True), pass_fds=[sock.fileno()])
    sys.exit(supervisor.run(ready=lambda: healthy(host, port), on_ready=announce))


@cli.command(context_settings={"show_default": True})
@click.option("--host", default="0.0.0.0", help="Interface to listen on.")
@click.option("--port", default=8000, type=PORT, help="Port to listen on.")
@click.option("--workers", default=2, type=click.IntRange(min=1), help="API processes sharing the port.")
@click.option("--threads", default=API_THREADS, type=click.IntRange(min=2),
              help="Threads per process; more than AXON_MAX_EVENT_STREAMS.")
@click.option("--grace", default=10.0, type=click.FloatRange(min=0),
              help="Seconds requests under way get to finish at a stop.")
def api(host: str, port: int, workers: int, threads: int, grace: float) -> None:
    """Serve the HTTP API (production): WORKERS waitress processes on one port, stopped together."""
    # A bad AXON_* value fails here, once, not in every process.
    settings = load_settings()
    click.echo(f"axon api: {database_notice(settings)}", err=True)
    check_auth_off_on_loopback(settings, host)
    check_threads_outnumber_streams(settings, threads)
    sock = listen_or_fail(host, port)
    env = dict(os.environ)
    if "PROMETHEUS_MULTIPROC_DIR" not in env:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_folder(port))
    base_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    supervisor = Supervisor(api_commands(sock.fileno(), workers, threads, grace), env, grace + DRAIN_MARGIN_SECONDS,
                            echo=lambda line: click.echo(line, err=True), pass_fds=[sock.fileno()], name="axon api")
    sys.exit(supervisor.run(
        ready=lambda: healthy(host, port),
        on_ready=lambda: click.echo(f"axon api: {workers} process(es) x {threads} threads serving {base_url}\n"
                                    f"  {auth_notice(settings, base_url)}", err=True)))


@cli.command(context_settings={"show_default": True})
@click.option("--concurrency", "-c", default=1, type=click.IntRange(min=1),
              help="Jobs this worker trains at once; scale out with more workers instead.")
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- CELERY_ARGS...]")
def worker(concurrency: int, celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker that trains jobs. Arguments after -- go to celery."""
    settings = load_settings()
    click.echo(f"axon worker: {database_notice(settings)}", err=True)
    exec_argv(celery_argv(concurrency=concurrency, extra=celery_args))


@cli.group()
def db() -> None:
    """The database schema (Alembic migrations)."""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Migrate the configured database to REVISION (default: the latest)."""
    settings = load_settings()
    upgrade_database(settings, revision)
    click.echo(f"{masked(settings.resolved_database_url)} is at revision {revision}.")


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="Print a Markdown table (for the README).")
def show_settings(markdown: bool) -> None:
    """Print the effective settings: each AXON_* variable, its value and what it does."""
    settings = load_settings()
    rows = []
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        shown = "-" if value is None else masked(value) if name.endswith("_url") else str(value)
        rows.append((f"AXON_{name.upper()}", shown, field.description or ""))
    if markdown:
        click.echo("| Variable | Value | Description |\n|---|---|---|")
        for variable, shown, description in rows:
            escaped = description.replace("|", r"\|")
            click.echo(f"| `{variable}` | `{shown}` | {escaped} |")
        return
    widths = [max(len(row[column]) for row in rows) for column in (0, 1)]
    for variable, shown, description in rows:
        click.echo(f"{variable:<{widths[0]}}  {shown:<{widths[1]}}  {description}")


# ---- client commands: one module per resource, each only needs axon.Client --------------------

for command in (*JOB_COMMANDS, *DATA_COMMANDS, *SWEEP_COMMANDS):
    cli.add_command(command)
cli.add_command(keys)


def main() -> None:
    """The console script's entry point."""
    cli(prog_name="axon")
