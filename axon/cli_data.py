"""The dataset and model commands: ``datasets``, ``dataset create/show/delete``, ``model``, ``predict``, ``export``."""

from __future__ import annotations

import csv
import sys

import click

from axon.cli_common import echo_fields, echo_table, generator_body, generator_options, shown, with_client
from axon.client import EXPORT_ROUTES, Client

TASKS = click.Choice(["classification", "regression"])


def dataset_fields(dataset: dict) -> dict:
    return {"id": dataset["id"], "name": dataset["name"], "task": dataset["task"],
            "rows": dataset["n_samples"], "features": ", ".join(dataset.get("feature_names") or [])
            or dataset["n_features"], "classes": shown(dataset.get("classes")), "created": dataset["created_at"]}


@click.command()
@with_client
def datasets(client: Client) -> None:
    """List datasets, newest first."""
    rows = [(item["id"], item["name"], item["task"], str(item["n_samples"]), str(item["n_features"]),
             item["created_at"]) for item in client.datasets()]
    echo_table(("ID", "NAME", "TASK", "ROWS", "FEATURES", "CREATED"), rows)


@click.group()
def dataset() -> None:
    """Create, show or delete one dataset."""


@dataset.command()
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--target", help="Header of the CSV's target column (every other column is a feature).")
@generator_options
@click.option("--name", help="Default: the file name, or the generator's kind.")
@click.option("--task", type=TASKS, help="Default: inferred from the targets.")
@click.option("--column", "columns", multiple=True, metavar="NAME=KIND",
              help="Override a column's kind (numeric, boolean, categorical, datetime, text, ignore); repeatable.")
@with_client
def create(client: Client, file: str | None, target: str | None, kind: str | None, samples, noise, seed,
           name: str | None, task: str | None, columns: tuple[str, ...]) -> None:
    """Upload FILE.csv (with a header row) or FILE.parquet as a dataset, or draw one with --generator; print its id.

    \b
    axon dataset create data.csv --target label --name iris
    axon dataset create penguins.csv --target species --column year=categorical
    axon dataset create --generator spiral --samples 400 --noise 0.1 --seed 1
    """
    if (file is None) == (kind is None):
        raise click.UsageError("give either FILE.csv (with --target) or --generator KIND")
    if file is not None:
        if target is None:
            raise click.UsageError("a CSV upload needs --target COLUMN")
        if samples is not None or noise is not None or seed is not None:
            raise click.UsageError("--samples, --noise and --seed go with --generator")
        overrides = dict(column.rsplit("=", 1) for column in columns if "=" in column)
        if len(overrides) != len(columns):
            raise click.UsageError("--column takes NAME=KIND, e.g. --column year=categorical")
        created = client.upload_csv(file, target, name=name, task=task, columns=overrides)
    else:
        if target is not None or task is not None or columns:
            raise click.UsageError("--target, --task and --column go with a CSV FILE")
        created = client.create_dataset(generator=generator_body(kind, samples, noise, seed), name=name)
    click.echo(created["id"])


@dataset.command()
@click.argument("dataset_id")
@with_client
def show(client: Client, dataset_id: str) -> None:
    """Show one dataset: name, task, rows, features and classes, and an upload's column schema."""
    found = client.dataset(dataset_id)
    echo_fields(dataset_fields(found))
    if found.get("target"):
        target = found["target"]
        echo_fields({"target": f"{target['name']} ({target['kind']}): {target['task']}, {target['task_reason']}"})
    elif found.get("task_reason"):
        echo_fields({"task reason": found["task_reason"]})
    if found.get("columns"):
        click.echo("")
        echo_table(("COLUMN", "KIND", "MISSING", "DISTINCT", "NOTE"), [schema_row(column) for column in found["columns"]])


def schema_row(column: dict) -> tuple[str, ...]:
    """One line of the schema table: categories for a categorical column, else why the kind."""
    note = column["reason"]
    if column.get("categories"):
        shown_categories = column["categories"][:8]
        more = f" +{len(column['categories']) - 8}" if len(column["categories"]) > 8 else ""
        note = "categories: " + ", ".join(shown_categories) + more
    return column["name"], column["kind"], str(column["missing"]), str(column["distinct"]), note


@dataset.command()
@click.argument("dataset_id")
@with_client
def delete(client: Client, dataset_id: str) -> None:
    """Delete a dataset (refused while a queued or running job uses it; trained models stay)."""
    client.delete_dataset(dataset_id)
    click.echo(f"deleted {dataset_id}")


@click.command()
@click.argument("model_id")
@with_client
def model(client: Client, model_id: str) -> None:
    """Show one model: its job, task, features, classes, layers and final metrics."""
    found = client.model(model_id)
    layers = ",".join(f"{layer['units']}:{layer['activation']}" for layer in found["spec"]["layers"])
    echo_fields({"id": found["id"], "job": found["job_id"], "task": found["task"],
                 "features": found["n_features"], "classes": shown(found.get("classes")), "layers": layers,
                 "metrics": " ".join(f"{name} {shown(value)}" for name, value in (found.get("metrics") or {}).items()),
                 "created": found["created_at"]})


@click.command()
@click.argument("model_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@with_client
def predict(client: Client, model_id: str, file: str) -> None:
    """Predict each row of a CSV FILE (header optional; with one, columns match the model's by name);
    one prediction per line, as CSV."""
    # RFC 4180's CRLF: the csv module then quotes a cell holding a CR or an LF, not only a comma.
    writer = csv.writer(sys.stdout, lineterminator="\r\n")
    with open(file, newline="", encoding="utf-8-sig") as opened:
        text = opened.read()
    if not any(line.strip(" ,\t") for line in text.splitlines()):
        raise click.ClickException(f"{file} has no rows")
    for value in client.predict_csv(model_id, text).predictions.tolist():
        writer.writerow([spreadsheet_safe(cell) for cell in (value if isinstance(value, list) else [value])])


# A cell starting with one of these is a formula to a spreadsheet ("=cmd|' /C calc'!A0").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell):
    """A label that a spreadsheet would run as a formula, with a ' before it (OWASP's advice for
    CSV injection); numbers are left as they are, so -1.5 stays a number. The csv module quotes
    the rest (commas, quotes, line breaks)."""
    if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


@click.command()
@click.argument("model_id")
@click.option("--format", "export_format", type=click.Choice(sorted(EXPORT_ROUTES)), default="npz", show_default=True,
              help="npz: Axon's artefact (mlp.Model.from_bytes); onnx: an ONNX model for onnxruntime.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="File to write. [default: axon-model-MODEL_ID.npz or .onnx]")
@with_client
def export(client: Client, model_id: str, export_format: str, output: str | None) -> None:
    """Download a model: its npz artefact (weights, spec and preprocessing) or an ONNX model."""
    path = client.export(model_id, output or f"axon-model-{model_id}.{export_format}", format=export_format)
    click.echo(f"wrote {path}")


DATA_COMMANDS = (datasets, dataset, model, predict, export)
