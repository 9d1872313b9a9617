"""``axon keys``: make, list and revoke API keys, straight in the configured database.

These are the operator's commands, run where the service's settings are (AXON_DATABASE_URL),
not through the HTTP API: a key is what the API asks for, so it cannot be the way to get one.
"""

from __future__ import annotations

import click

from .common import database_notice, load_settings, require_server_extra, upgrade_database


def database_engine(must_exist: bool = False):
    """The configured database, migrated to the current schema (a no-op when it already is), after
    saying on stderr which one it is.

    With ``must_exist``, a default SQLite database that is not there yet is an error rather than a
    new empty one: listing or revoking keys there would silently find none.
    """
    from service.database import make_engine

    settings = load_settings()
    click.echo(f"axon keys: {database_notice(settings)}", err=True)
    sqlite_file = settings.home / "axon.db"
    if must_exist and settings.database_url is None and not sqlite_file.exists():
        raise click.ClickException(
            f"no Axon database at {sqlite_file.absolute()}. Set AXON_HOME to the folder `axon serve` printed "
            "at start, or AXON_DATABASE_URL to its database.")
    upgrade_database(settings)
    return make_engine(settings.resolved_database_url)


@click.group()
def keys() -> None:
    """Manage API keys (Authorization: Bearer <key>), one tenant per key."""
    require_server_extra()  # Before the commands import the service.


@keys.command("create")
@click.option("--tenant", required=True, help="Whose datasets, jobs and models the key reaches.")
def create_key(tenant: str) -> None:
    """Make a key for TENANT and print it, once: only its hash is stored."""
    from service.auth import issue_key

    engine = database_engine()
    try:
        issued = issue_key(engine, tenant)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--tenant") from None
    finally:
        engine.dispose()
    click.echo(issued.key)
    click.echo(f"key id {issued.id} for tenant '{issued.tenant}'. This is the only time the key is shown; "
               "revoke it with: axon keys revoke " + issued.id, err=True)


@keys.command("list")
@click.option("--tenant", default=None, help="Only this tenant's keys.")
def list_keys(tenant: str | None) -> None:
    """List keys (never the keys themselves): id, tenant, first characters, created, revoked."""
    from axon.cli_common import echo_table
    from service.auth import list_keys as stored_keys

    engine = database_engine(must_exist=True)
    try:
        rows = stored_keys(engine, tenant)
    finally:
        engine.dispose()
    echo_table(["ID", "TENANT", "KEY", "CREATED", "REVOKED"],
               [[row.id, row.tenant, row.prefix + "…", f"{row.created_at:%Y-%m-%d %H:%M}",
                 f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "-"] for row in rows])


@keys.command("revoke")
@click.argument("key_or_id")
def revoke_key(key_or_id: str) -> None:
    """Revoke a key, given by its id or the key itself; requests with it get 401 from then on."""
    from service.auth import revoke_key as revoke

    engine = database_engine(must_exist=True)
    try:
        revoked = revoke(engine, key_or_id)
    finally:
        engine.dispose()
    if not revoked:
        raise click.ClickException("no live key with that id or value (unknown, or already revoked)")
    click.echo("revoked")
