"""What the client commands share: a :class:`Client` from --url/--key, errors as exit statuses, tables.

Exit statuses: 0 when the command did what it said, 1 for an error the server answered (or a job
that failed or was cancelled), 2 when there was no server to answer (and, as click does, for a
command line it cannot parse).
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Sequence

import click

from axon.client import DEFAULT_URL, AxonError, AxonUnavailable, Client

EXIT_API_ERROR, EXIT_UNAVAILABLE = 1, 2
# The scores a progress line or bar shows, when the epoch's record has them.
SCORES = ("loss", "accuracy", "val_loss", "val_accuracy")


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


def shown(value) -> str:
    """A value fit for a table cell."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


def echo_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in (header, *rows):
        click.echo("  ".join(f"{cell:<{width}}" for cell, width in zip(row, widths)).rstrip())


def echo_fields(fields: dict) -> None:
    """``name: value`` lines, the values aligned, as ``axon status`` prints them."""
    for name, value in fields.items():
        click.echo(f"{name + ':':<15}{value}")


def scores(record: dict | None) -> str:
    """``loss x accuracy y ...`` for the scores an epoch's record has."""
    record = record or {}
    return " ".join(f"{name} {record[name]:.4g}" for name in SCORES if isinstance(record.get(name), (int, float)))


def progress_line(epoch: int, epochs: int, record: dict | None) -> str:
    """``epoch k/N loss x accuracy y`` for one epoch's record."""
    return f"epoch {epoch}/{epochs} {scores(record)}".rstrip()


def generator_options(command):
    """--generator/--samples/--noise/--seed: a playground dataset, as ``generator_body`` sends it."""
    options = [
        click.option("--generator", "kind",
                     help="Playground dataset: circle, xor, gauss, spiral (classification), plane, multigauss."),
        click.option("--samples", type=click.IntRange(min=2), help="Rows to draw (server default 500)."),
        click.option("--noise", type=click.FloatRange(0, 1), help="Noise level (server default 0)."),
        click.option("--seed", type=click.IntRange(min=0), help="Seed of the data (and of the training)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def generator_body(kind: str, samples: int | None, noise: float | None, seed: int | None) -> dict:
    """The ``generator`` object of a dataset request, leaving unset options to the server's defaults."""
    generator = {"kind": kind, "n_samples": samples, "noise": noise, "seed": seed}
    return {name: value for name, value in generator.items() if value is not None}
