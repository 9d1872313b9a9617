"""``axon db upgrade`` and ``axon settings``: the database's schema and the settings in effect."""

from __future__ import annotations

import click

from .common import load_settings, masked, upgrade_database


@click.group()
def db() -> None:
    """The database schema (Alembic migrations)."""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Migrate the configured database to REVISION (default: the latest)."""
    settings = load_settings()
    upgrade_database(settings, revision)
    click.echo(f"{masked(settings.resolved_database_url)} is at revision {revision}.")


@click.command("settings")
@click.option("--markdown", is_flag=True, help="Print a Markdown table (for the README).")
def show_settings(markdown: bool) -> None:
    """Print the effective settings: each AXON_* variable, its value and what it does."""
    settings = load_settings()
    rows = []
    for variable, field in type(settings).variables().items():
        value = settings.value_of(variable)
        shown = "-" if value is None else masked(value) if variable.endswith("_URL") else str(value)
        rows.append((variable, shown, field.description or ""))
    if markdown:
        click.echo("| Variable | Value | Description |\n|---|---|---|")
        for variable, shown, description in rows:
            escaped = description.replace("|", r"\|")
            click.echo(f"| `{variable}` | `{shown}` | {escaped} |")
        return
    widths = [max(len(row[column]) for row in rows) for column in (0, 1)]
    for variable, shown, description in rows:
        click.echo(f"{variable:<{widths[0]}}  {shown:<{widths[1]}}  {description}")

