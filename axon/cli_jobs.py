"""The job commands: ``train``, ``watch``, ``jobs``, ``status``, ``metrics`` and ``cancel``."""

from __future__ import annotations

import csv
import sys

import click

from axon.cli_common import (EXIT_API_ERROR, echo_fields, echo_table, generator_body, generator_options,
                             progress_line, shown, with_client)
from axon.client import Client, EpochEvent
from axon.progress import follow


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


def train_spec(layers: list[dict], epochs: int | None, batch_size: int | None, seed: int | None,
               optimizer: str | None, learning_rate: float | None) -> dict:
    """The spec ``axon train`` submits: the options given, the server's defaults for the rest."""
    spec: dict = {"layers": layers, "epochs": epochs, "batch_size": batch_size, "seed": seed}
    if optimizer is not None or learning_rate is not None:
        spec["optimizer"] = {"name": optimizer or "adam",
                             **({"learning_rate": learning_rate} if learning_rate is not None else {})}
    return {name: value for name, value in spec.items() if value is not None}


def finish(job: dict) -> None:
    """Print how a finished job ended: ``succeeded model ID``, or its status on stdout, the reason on
    stderr and exit 1."""
    if job["status"] == "succeeded":
        click.echo(f"succeeded model {job['model_id']}")
        return
    click.echo(job["status"])
    error = job.get("error")
    reason = f": {error['type']}: {error['message']}" if error else ""
    click.echo(f"Error: job {job['id']} {job['status']}{reason}", err=True)
    sys.exit(EXIT_API_ERROR)


@click.command()
@click.option("--dataset", "dataset_id", help="Train on this dataset (see `axon datasets`) instead of a generator.")
@generator_options
@click.option("--layers", required=True, callback=parse_layers, help="Hidden layers, e.g. 8:tanh,8:tanh.")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs to train.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Rows per gradient step.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), help="Optimizer's learning rate.")
@click.option("--optimizer", help="sgd, momentum, nesterov, adam (default), adamw, rmsprop or adagrad.")
@click.option("--wait", is_flag=True, help="Follow the job until it finishes, printing a line per epoch.")
@click.option("--watch", is_flag=True, help="Follow the job live with a progress bar until it finishes.")
@with_client
def train(client: Client, dataset_id: str | None, kind: str | None, samples, noise, seed, layers, epochs,
          batch_size, learning_rate, optimizer, wait: bool, watch: bool) -> None:
    """Queue a training job on a dataset (--dataset) or a fresh generator one (--generator); print its id.

    With --wait or --watch, show progress on stderr, then print the final status on stdout (with the
    model's id) and exit 1 unless it succeeded.
    """
    if (dataset_id is None) == (kind is None):
        raise click.UsageError("give either --dataset ID or --generator KIND")
    if dataset_id is not None and (samples is not None or noise is not None):
        raise click.UsageError("--samples and --noise shape a generated dataset; they go with --generator")
    if wait and watch:
        raise click.UsageError("--wait and --watch are two ways of waiting; pick one")
    if dataset_id is None:
        dataset_id = client.create_dataset(generator=generator_body(kind, samples, noise, seed))["id"]
    job = client.submit(dataset_id, train_spec(layers, epochs, batch_size, seed, optimizer, learning_rate))
    click.echo(job["id"])
    if watch:
        finish(follow(client, job))
    elif wait:
        finish(print_epochs(client, job))


def print_epochs(client: Client, job: dict) -> dict:
    """Follow ``job``'s event stream to its end, printing one progress line to stderr per epoch; return
    the finished job."""
    def on_epoch(event: EpochEvent) -> None:
        click.echo(progress_line(event.epoch, job["epochs"], event.record), err=True)

    return client.wait(job["id"], on_epoch=on_epoch)


@click.command()
@click.argument("job_id")
@with_client
def watch(client: Client, job_id: str) -> None:
    """Follow a job to its end with a live progress bar (plain lines when stderr is not a terminal).

    Prints the final status on stdout; exits 1 if the job failed or was cancelled.
    """
    finish(follow(client, client.job(job_id)))


@click.command("jobs")
@click.option("--status", help="Only jobs with this status (queued, running, succeeded, failed, ...).")
@with_client
def list_jobs(client: Client, status: str | None) -> None:
    """List jobs, newest first."""
    rows = [(job["id"], job["status"], f"{job['epoch']}/{job['epochs']}",
             shown((job.get("metrics") or {}).get("loss")), job.get("model_id") or "-", job["created_at"])
            for job in client.jobs(status)]
    echo_table(("ID", "STATUS", "EPOCH", "LOSS", "MODEL", "CREATED"), rows)


@click.command()
@click.argument("job_id")
@with_client
def status(client: Client, job_id: str) -> None:
    """Show one job: status, progress, latest metrics, model and error."""
    job = client.job(job_id)
    error = job.get("error")
    echo_fields({
        "id": job["id"], "status": job["status"], "dataset": job.get("dataset_id") or "-",
        "progress": f"{progress_line(job['epoch'], job['epochs'], job.get('metrics'))} ({job['progress']:.0%})",
        "model": job.get("model_id") or "-",
        "error": f"{error['type']}: {error['message']}" if error else "-", "attempts": job["attempts"],
        "created": job["created_at"], "started": job.get("started_at") or "-",
        "finished": job.get("finished_at") or "-", "train_seconds": shown(job["train_seconds"]),
    })


@click.command()
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


@click.command()
@click.argument("job_id")
@with_client
def cancel(client: Client, job_id: str) -> None:
    """Cancel a job: a queued one at once, a running one at its next epoch."""
    job = client.cancel(job_id)
    click.echo(f"{job['id']} {job['status']}")


JOB_COMMANDS = (train, watch, list_jobs, status, metrics, cancel)
