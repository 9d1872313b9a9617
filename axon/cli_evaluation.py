"""``axon evaluate``: a model's evaluation report, the stored one or one on a dataset."""

from __future__ import annotations

import json

import click

from axon.cli_common import echo_fields, echo_table, shown, with_client
from axon.client import Client

EVALUATED_ON = {
    "validation": "the validation split",
    "training": "the training split (no validation split: rows it learned from)",
    "dataset": "dataset {dataset_id}",
    "rows": "the given rows",
}


@click.command()
@click.argument("model_id")
@click.option("--dataset", "dataset_id", help="Evaluate on this dataset. [default: the report training stored]")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_client
def evaluate(client: Client, model_id: str, dataset_id: str | None, as_json: bool) -> None:
    """Show a model's evaluation: scores, and for a classifier the confusion matrix and per-class scores.

    \b
    axon evaluate MODEL                  # the report training made, on its validation split
    axon evaluate MODEL --dataset ID     # the same report on another labelled dataset
    """
    report = client.model(model_id)["evaluation"] if dataset_id is None else client.evaluate(model_id, dataset_id)
    if report is None:
        raise click.ClickException(f"model {model_id} has no stored evaluation (made before Axon kept one); "
                                   "use --dataset")
    if as_json:
        click.echo(json.dumps(report))
        return
    echo_report(report)


def echo_report(report: dict) -> None:
    on = EVALUATED_ON[report["evaluated_on"]].format(dataset_id=report.get("dataset_id"))
    fields = {"evaluated on": on, "rows": report["n_samples"]}
    if report["task"] == "regression":
        echo_fields({**fields, "mae": shown(report["mae"]), "rmse": shown(report["rmse"]), "r2": shown(report["r2"])})
        return
    echo_fields({**fields, **{name.replace("_", " "): shown(report[name])
                              for name in ("accuracy", "macro_f1", "weighted_f1", "log_loss", "roc_auc")
                              if name != "roc_auc" or len(report["classes"]) == 2}})
    labels = [str(label) for label in report["classes"]]
    click.echo("\nconfusion matrix (rows: true class, columns: predicted)")
    echo_table(("", *labels), [(label, *map(str, row)) for label, row in zip(labels, report["confusion_matrix"])])
    click.echo("")
    echo_table(("CLASS", "PRECISION", "RECALL", "F1", "SUPPORT"),
               [(str(entry["label"]), shown(entry["precision"]), shown(entry["recall"]), shown(entry["f1"]),
                 str(entry["support"])) for entry in report["per_class"]])
