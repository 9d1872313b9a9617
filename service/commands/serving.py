"""``axon serve``, ``axon api`` and ``axon worker``: the processes that serve the API and train jobs.

``serve`` runs the API and one worker on this machine; ``api`` runs the production API processes
on one port; ``worker`` becomes a Celery worker. Each reads the ``AXON_*`` settings, says at start
which database it uses, and refuses a configuration that would be unsafe or starve its threads.
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

from .common import database_notice, load_settings, masked, require_server_extra, upgrade_database
from .supervisor import (API_THREADS, DRAIN_MARGIN_SECONDS, Supervisor, api_commands, celery_argv,
                         create_broker_tables, embedded_commands, healthy)

PORT = click.IntRange(1, 65535)


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
    from .http_server import listen

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


def exec_argv(argv: Sequence[str], env: dict[str, str] | None = None) -> None:
    """Replace this process with ``argv`` (in ``env``, default this one's), so signals reach
    Celery directly."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], list(argv), os.environ if env is None else env)



@click.command()
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


@click.command(context_settings={"show_default": True})
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


@click.command(context_settings={"show_default": True})
@click.option("--concurrency", "-c", default=1, type=click.IntRange(min=1),
              help="Jobs this worker trains at once; scale out with more workers instead.")
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- CELERY_ARGS...]")
def worker(concurrency: int, celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker that trains jobs. Arguments after -- go to celery."""
    settings = load_settings()
    click.echo(f"axon worker: {database_notice(settings)}", err=True)
    exec_argv(celery_argv(concurrency=concurrency, extra=celery_args))

