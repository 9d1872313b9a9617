"""What the server's commands share: the settings from the environment, the notices each prints at
start, and migrating the configured database.

Heavy imports (Flask, Celery, Alembic) happen inside the functions, so the ``axon`` command, which
loads this package with the client's commands, starts quickly and without the server extra.
"""

from __future__ import annotations

from pathlib import Path

import click

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


def masked(url: str) -> str:
    """``url`` with any password hidden, fit to print."""
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(url)


def database_notice(settings) -> str:
    """``database: URL``, the line each server command prints at start; with the default SQLite and a
    relative AXON_HOME, where it was resolved from (the default is absolute)."""
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

