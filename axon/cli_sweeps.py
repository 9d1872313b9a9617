"""The sweep commands: ``sweep`` (start one, optionally watch it), ``sweeps``, ``sweep-status`` and ``sweep-cancel``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from axon.cli_common import EXIT_API_ERROR, echo_fields, echo_table, shown, with_client
from axon.client import Client


def read_json_file(ctx, param, value: str | None):
    """A JSON file's document, for --spec and --space."""
    if value is None:
        return None
    try:
        return json.loads(Path(value).read_text())
    except (OSError, ValueError) as error:
        raise click.BadParameter(f"cannot read {value} as JSON: {error}") from None


def leaderboard_rows(sweep: dict, top: int) -> list[tuple]:
    return [(trial["trial"], trial["status"], shown(trial["objective"]), trial["epoch"],
             " ".join(f"{pointer}={shown(value)}" for pointer, value in trial["sampled"].items()), trial["job_id"])
            for trial in sweep["leaderboard"][:top]]


def counts_line(sweep: dict) -> str:
    return ", ".join(f"{count} {status}" for status, count in sorted(sweep["counts"].items()) if count)


def finish(sweep: dict, top: int = 5) -> None:
    """Print the leaderboard's top and ``succeeded best trial N job ID model ID`` on stdout;
    exit 1 unless the sweep succeeded."""
    if sweep["leaderboard"]:
        echo_table(("TRIAL", "STATUS", sweep["objective"]["metric"].upper(), "EPOCHS", "SAMPLED", "JOB"),
                   leaderboard_rows(sweep, top))
    best = sweep.get("best")
    if sweep["status"] == "succeeded" and best is not None:
        click.echo(f"succeeded best trial {best['trial']} job {best['job_id']} model {best['model_id']} "
                   f"{sweep['objective']['metric']} {shown(best['objective'])}")
        return
    click.echo(sweep["status"])
    click.echo(f"Error: sweep {sweep['id']} {sweep['status']} ({counts_line(sweep)})", err=True)
    sys.exit(EXIT_API_ERROR)


@click.command()
@click.option("--dataset", "dataset_id", required=True, help="The dataset every trial trains on.")
@click.option("--spec", "spec", required=True, callback=read_json_file, help="JSON file: the base spec.")
@click.option("--space", "space", required=True, callback=read_json_file,
              help='JSON file: {"/json/pointer": {"type": "choice"|"uniform"|"log_uniform"|"int", ...}}.')
@click.option("--trials", "n_trials", type=click.IntRange(min=1), help="Trials to run (default for grid: all).")
@click.option("--strategy", type=click.Choice(["random", "grid", "asha"]), default="random", show_default=True)
@click.option("--objective", default="val_loss", show_default=True, help="The epoch metric to optimise.")
@click.option("--mode", type=click.Choice(["min", "max"]), help="Default: max for accuracy and r2, else min.")
@click.option("--parallel", "max_parallel", type=click.IntRange(min=1), default=4, show_default=True,
              help="Trials queued or running at once at most.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--watch", is_flag=True, help="Follow the sweep to its end, a line per change, then the leaderboard.")
@with_client
def sweep(client: Client, dataset_id, spec, space, n_trials, strategy, objective, mode, max_parallel, seed,
          watch: bool) -> None:
    """Start a hyperparameter sweep; print its id.

    With --watch, print its trial counts on stderr as they change, then the leaderboard's top and the
    best trial on stdout; exit 1 unless it succeeded.
    """
    objective_body = {"metric": objective, **({"mode": mode} if mode else {})}
    started = client.sweep(dataset_id, spec, space, n_trials=n_trials, strategy=strategy, objective=objective_body,
                           max_parallel=max_parallel, seed=seed)
    click.echo(started["id"])
    if not watch:
        return
    last = []

    def on_progress(current: dict) -> None:
        line = f"{current['status']}: {counts_line(current)}"
        if line != (last or [None])[-1]:
            click.echo(line, err=True)
            last.append(line)

    finish(client.wait_sweep(started["id"], on_progress=on_progress))


@click.command("sweeps")
@click.option("--status", help="Only sweeps with this status (queued, running, succeeded, failed, cancelled).")
@with_client
def list_sweeps(client: Client, status: str | None) -> None:
    """List sweeps, newest first."""
    rows = [(item["id"], item["status"], item["strategy"], counts_line(item),
             shown((item.get("best") or {}).get("objective")), item["created_at"]) for item in client.sweeps(status)]
    echo_table(("ID", "STATUS", "STRATEGY", "TRIALS", "BEST", "CREATED"), rows)


@click.command("sweep-status")
@click.argument("sweep_id")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="Leaderboard rows to show.")
@with_client
def sweep_status(client: Client, sweep_id: str, top: int) -> None:
    """Show one sweep: status, trial counts, best trial, then the leaderboard's top."""
    shown_sweep = client.get_sweep(sweep_id)
    best = shown_sweep.get("best") or {}
    echo_fields({"id": shown_sweep["id"], "status": shown_sweep["status"], "strategy": shown_sweep["strategy"],
                 "trials": counts_line(shown_sweep), "objective": f"{shown_sweep['objective']['metric']} "
                 f"({shown_sweep['objective']['mode']})", "best": shown(best.get("objective")),
                 "best model": best.get("model_id") or "-"})
    if shown_sweep["leaderboard"]:
        click.echo()
        echo_table(("TRIAL", "STATUS", "OBJECTIVE", "EPOCHS", "SAMPLED", "JOB"), leaderboard_rows(shown_sweep, top))


@click.command("sweep-cancel")
@click.argument("sweep_id")
@with_client
def sweep_cancel(client: Client, sweep_id: str) -> None:
    """Cancel a sweep and every unfinished trial."""
    cancelled = client.cancel_sweep(sweep_id)
    click.echo(f"{cancelled['id']} {cancelled['status']}")


SWEEP_COMMANDS = (sweep, list_sweeps, sweep_status, sweep_cancel)
