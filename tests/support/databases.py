"""Throwaway databases for the worker and integration suites, created with the real migrations.

PostgreSQL must be up (``AXON_TEST_POSTGRES_URL``, default the loopback server with trust auth):
these suites fail, rather than skip, when it is not.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

import migrations

POSTGRES_ADMIN_URL = os.environ.get("AXON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def admin_connection() -> psycopg.Connection:
    try:
        return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({error}); start it with: "
                    f"{START_POSTGRES}", pytrace=False)


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database named ``<prefix>_<random>``; yields its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    url_text = url.render_as_string(hide_password=False)
    try:
        migrations.upgrade(url_text)
        yield url_text
    finally:
        with admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sqlite_database(folder) -> Iterator[str]:
    """A fresh, migrated SQLite file in ``folder``; yields its URL."""
    url = f"sqlite:///{folder / 'axon.db'}"
    migrations.upgrade(url)
    yield url
