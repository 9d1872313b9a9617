"""The schema comes only from Alembic: the migrations must build exactly what the models declare,
on SQLite and on PostgreSQL, and must go down and up again cleanly."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, inspect

import migrations
from service import tables  # noqa: F401  (registers the tables)
from service.database import Base, make_engine
from tests.databases import postgres_database, sqlite_database


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_url(request, tmp_path):
    if request.param == "sqlite":
        with sqlite_database(tmp_path) as url:
            yield url
    else:
        with postgres_database("axon_migrations") as url:
            yield url


def differences(url: str, metadata=Base.metadata) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        engine.dispose()


def test_migrations_match_the_models(migrated_url):
    assert differences(migrated_url) == []


def test_downgrade_to_base_and_upgrade_again(migrated_url):
    config = migrations.alembic_config(migrated_url)
    command.downgrade(config, "base")
    engine = make_engine(migrated_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrations.upgrade(migrated_url)
    assert differences(migrated_url) == []


def test_a_model_change_without_a_migration_is_caught(tmp_path):
    """The comparison is not vacuous: a column the migrations lack shows up as a difference."""
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["jobs"].append_column(Column("surprise", Integer))
    with sqlite_database(tmp_path) as url:
        found = differences(url, changed)
    assert [(diff[0], diff[3].name) for diff in found] == [("add_column", "surprise")]
