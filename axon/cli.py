"""The ``axon`` command: ``serve``, ``api``, ``worker``, ``db upgrade``, ``settings``, and the client
commands ``train``, ``jobs``, ``status``, ``metrics``, ``cancel``, ``predict`` and ``export``.

The server commands read their configuration from the ``AXON_*`` environment variables (see
``service.settings``); the client commands talk to a server at ``--url``/``AXON_URL`` through
:class:`axon.Client`. Heavy imports (Flask, Celery, Alembic) happen inside the commands, so
``axon --help`` stays quick.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import sys
from typing import Sequence

import click

from axon.client import DEFAULT_URL, AxonError, AxonUnavailable, Client
from axon.serve import (Supervisor, celery_argv, create_broker_tables, embedded_commands,
                        gunicorn_argv, port_open)

PORT = click.IntRange(1, 65535)


def load_settings():
    """The settings from the environment; an invalid ``AXON_*`` value is a clean CLI error."""
    from pydantic import ValidationError

    from service.settings import Settings

    try:
        return Settings()
    except ValidationError as error:
        raise click.ClickException(f"invalid AXON_* setting: {error}") from None


def masked(url: str) -> str:
    """``url`` with any password hidden, fit to print."""
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(url)


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


def exec_argv(argv: Sequence[str]) -> None:
    """Replace this process with ``argv``, so signals reach gunicorn or Celery directly."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], list(argv))


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
    if port_open(host, port):  # Fail now, not after gunicorn's five retries.
        raise click.ClickException(f"{host}:{port} is already in use; pick another --port.")
    settings = load_settings()
    home = settings.home.absolute()
    home.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings)
    if settings.resolved_broker_url.startswith("sqla+"):
        create_broker_tables(settings.resolved_broker_url)
    base_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def announce() -> None:
        click.echo(f"Axon is serving {base_url} (API docs: {base_url}/docs)\n"
                   f"  database: {masked(settings.resolved_database_url)}\n"
                   f"  broker:   {masked(settings.resolved_broker_url)}\n"
                   "Press Ctrl+C to stop.")

    # Children resolve AXON_HOME to the same folder even if they change directory.
    env = {**os.environ, "AXON_HOME": str(home)}
    supervisor = Supervisor(embedded_commands(host, port, grace, home), env, grace,
                            echo=lambda line: click.echo(line, err=True))
    sys.exit(supervisor.run(ready=lambda: port_open(host, port), on_ready=announce))


@cli.command(context_settings={"show_default": True})
@click.option("--host", default="0.0.0.0", help="Interface to listen on.")
@click.option("--port", default=8000, type=PORT, help="Port to listen on.")
@click.option("--workers", default=2, type=click.IntRange(min=1), help="gunicorn worker processes.")
@click.option("--threads", default=4, type=click.IntRange(min=1), help="Threads per worker process.")
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- GUNICORN_ARGS...]")
def api(host: str, port: int, workers: int, threads: int, gunicorn_args: tuple[str, ...]) -> None:
    """Serve the HTTP API with gunicorn (production). Arguments after -- go to gunicorn."""
    load_settings()  # A bad AXON_* value fails here, once, not in every gunicorn worker.
    exec_argv(gunicorn_argv(host, port, workers, threads, extra=gunicorn_args))


@cli.command(context_settings={"show_default": True})
@click.option("--concurrency", "-c", default=1, type=click.IntRange(min=1),
              help="Jobs this worker trains at once; scale out with more workers instead.")
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- CELERY_ARGS...]")
def worker(concurrency: int, celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker that trains jobs. Arguments after -- go to celery."""
    load_settings()
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


# ---- client commands ----------------------------------------------------------------------------

# Exit statuses: 1 for an error the server answered, 2 when there was no server to answer.
EXIT_API_ERROR, EXIT_UNAVAILABLE = 1, 2


def report(error: AxonError) -> None:
    """Print a problem to stderr: its title and detail, then each field error by where it points."""
    click.echo(f"Error: {error.title}: {error.detail}", err=True)
    for field_error in error.errors:
        where = next((str(field_error[name]) for name in ("pointer", "parameter", "field", "component")
                      if field_error.get(name) is not None), "body")
        if field_error.get("row") is not None:
            where += f" (row {field_error['row']})"
        click.echo(f"  {where}: {field_error.get('detail', '')}", err=True)


def with_client(command):
    """Give ``command`` a :class:`Client` from --url/--key (or AXON_URL/AXON_KEY) and map its errors to exits."""

    @click.option("--url", envvar="AXON_URL", default=DEFAULT_URL, show_default=True, help="Axon server address.")
    @click.option("--key", envvar="AXON_KEY", default=None, help="API key, sent as a Bearer token.")
    @functools.wraps(command)
    def run(url: str, key: str | None, **options):
        try:
            with Client(url, key) as client:
                return command(client, **options)
        except AxonUnavailable as error:
            click.echo(f"Error: {error.detail}. Is `axon serve` running there?", err=True)
            sys.exit(EXIT_UNAVAILABLE)
        except AxonError as error:
            report(error)
            sys.exit(EXIT_API_ERROR)

    return run


def parse_layers(ctx, param, value: str) -> list[dict]:
    """``"16:tanh,8:relu"`` as hidden layer specs; a bare ``16`` keeps the default activation."""
    layers = []
    for part in value.split(","):
        units, _, activation = part.strip().partition(":")
        try:
            layer: dict = {"units": int(units)}
        except ValueError:
            raise click.BadParameter(f"'{part}' is not UNITS or UNITS:ACTIVATION, e.g. 16:tanh") from None
        if activation:
            layer["activation"] = activation
        layers.append(layer)
    return layers


def shown(value) -> str:
    """A metric value fit for a table cell."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


def echo_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in (header, *rows):
        click.echo("  ".join(f"{cell:<{width}}" for cell, width in zip(row, widths)).rstrip())


def progress_line(job: dict) -> str:
    """``epoch k/N loss x accuracy y`` for a job's latest metrics."""
    metrics = job.get("metrics") or {}
    scores = "".join(f" {name} {metrics[name]:.4g}" for name in ("loss", "accuracy", "val_loss", "val_accuracy")
                     if isinstance(metrics.get(name), (int, float)))
    return f"epoch {job['epoch']}/{job['epochs']}{scores}"


@cli.command()
@click.option("--generator", "kind", required=True,
              help="Playground dataset: circle, xor, gauss, spiral (classification), plane, multigauss.")
@click.option("--samples", type=click.IntRange(min=2), help="Rows to draw (server default 500).")
@click.option("--noise", type=click.FloatRange(0, 1), help="Noise level (server default 0).")
@click.option("--seed", type=click.IntRange(min=0), help="Seed of the data and the training.")
@click.option("--layers", required=True, callback=parse_layers, help="Hidden layers, e.g. 8:tanh,8:tanh.")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs to train.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Rows per gradient step.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), help="Optimizer's learning rate.")
@click.option("--optimizer", help="sgd, momentum, nesterov, adam (default), adamw, rmsprop or adagrad.")
@click.option("--wait", is_flag=True, help="Poll until the job finishes, printing each epoch's loss.")
@with_client
def train(client: Client, kind: str, samples, noise, seed, layers, epochs, batch_size, learning_rate,
          optimizer, wait: bool) -> None:
    """Create a dataset from a generator, queue a job on it and print the job's id.

    With --wait, print progress to stderr and the final status to stdout; exit 1 unless it succeeded.
    """
    generator = {"kind": kind, "n_samples": samples, "noise": noise, "seed": seed}
    dataset = client.create_dataset(generator={name: value for name, value in generator.items() if value is not None})
    spec: dict = {"layers": layers, "epochs": epochs, "batch_size": batch_size, "seed": seed}
    if optimizer is not None or learning_rate is not None:
        spec["optimizer"] = {"name": optimizer or "adam",
                             **({"learning_rate": learning_rate} if learning_rate is not None else {})}
    job = client.submit(dataset["id"], {name: value for name, value in spec.items() if value is not None})
    click.echo(job["id"])
    if not wait:
        return
    shown_epoch = -1

    def on_progress(current: dict) -> None:
        nonlocal shown_epoch
        if current["epoch"] != shown_epoch and current.get("metrics"):
            shown_epoch = current["epoch"]
            click.echo(progress_line(current), err=True)

    job = client.wait(job["id"], on_progress=on_progress)
    if job["status"] == "succeeded":
        click.echo(f"succeeded model {job['model_id']}")
        return
    error = job.get("error") or {}
    click.echo(f"{job['status']}{': ' + error['message'] if error.get('message') else ''}")
    sys.exit(EXIT_API_ERROR)


@cli.command("jobs")
@click.option("--status", help="Only jobs with this status (queued, running, succeeded, failed, ...).")
@with_client
def list_jobs(client: Client, status: str | None) -> None:
    """List jobs, newest first."""
    rows = [(job["id"], job["status"], f"{job['epoch']}/{job['epochs']}",
             shown((job.get("metrics") or {}).get("loss")), job.get("model_id") or "-", job["created_at"])
            for job in client.jobs(status)]
    echo_table(("ID", "STATUS", "EPOCH", "LOSS", "MODEL", "CREATED"), rows)


@cli.command()
@click.argument("job_id")
@with_client
def status(client: Client, job_id: str) -> None:
    """Show one job: status, progress, latest metrics, model and error."""
    job = client.job(job_id)
    error = job.get("error")
    fields = {
        "id": job["id"], "status": job["status"], "dataset": job.get("dataset_id") or "-",
        "progress": f"{progress_line(job)} ({job['progress']:.0%})", "model": job.get("model_id") or "-",
        "error": f"{error['type']}: {error['message']}" if error else "-", "attempts": job["attempts"],
        "created": job["created_at"], "started": job.get("started_at") or "-",
        "finished": job.get("finished_at") or "-", "train_seconds": shown(job["train_seconds"]),
    }
    for name, value in fields.items():
        click.echo(f"{name + ':':<15}{value}")


@cli.command()
@click.argument("job_id")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (a header, then one line per epoch).")
@with_client
def metrics(client: Client, job_id: str, as_csv: bool) -> None:
    """Print every epoch's metrics of a job."""
    records = client.metrics(job_id)
    columns = list(dict.fromkeys(name for record in records for name in record))
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([record.get(name, "") for name in columns] for record in records)
        return
    echo_table(columns, [[shown(record.get(name)) for name in columns] for record in records])


@cli.command()
@click.argument("job_id")
@with_client
def cancel(client: Client, job_id: str) -> None:
    """Cancel a job: a queued one at once, a running one at its next epoch."""
    job = client.cancel(job_id)
    click.echo(f"{job['id']} {job['status']}")


def read_rows(path: str) -> list[list[float]]:
    """The rows of numbers in a CSV file; a first line that is not all numbers is a header."""
    with open(path, newline="") as file:
        lines = [line for line in csv.reader(file) if any(cell.strip() for cell in line)]
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append([float(cell) for cell in line])
        except ValueError:
            if number == 1:
                continue
            raise click.ClickException(f"{path}, line {number}: not a row of numbers: {','.join(line)}") from None
    if not rows:
        raise click.ClickException(f"{path} has no rows of numbers")
    return rows


@cli.command()
@click.argument("model_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@with_client
def predict(client: Client, model_id: str, file: str) -> None:
    """Predict each row of a CSV FILE of numbers (header optional); one prediction per line."""
    for value in client.predict(model_id, read_rows(file)).predictions.tolist():
        click.echo(",".join(map(str, value)) if isinstance(value, list) else value)


@cli.command()
@click.argument("model_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="File to write. [default: axon-model-MODEL_ID.npz]")
@with_client
def export(client: Client, model_id: str, output: str | None) -> None:
    """Download a model's npz artefact (weights, spec and preprocessing; ``mlp.Model.from_bytes`` loads it)."""
    path = client.export(model_id, output or f"axon-model-{model_id}.npz")
    click.echo(f"wrote {path}")


def main() -> None:
    """The console script's entry point."""
    cli(prog_name="axon")
