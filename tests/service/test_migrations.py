"""The schema comes only from Alembic: the migrations must build exactly what the models declare,
on SQLite and on PostgreSQL, and must go down and up again cleanly."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError

import migrations
from service import tables  # noqa: F401  (registers the tables)
from service.database import Base, make_engine, utcnow
from tests.support.databases import postgres_database, sqlite_database


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


def test_the_status_check_keeps_every_row_and_refuses_a_status_outside_the_table(migrated_url):
    """0005 rebuilds the jobs table on SQLite: the rows of the tables that refer to it survive it
    (with foreign keys on, dropping the old table would cascade into them), both ways."""
    config = migrations.alembic_config(migrated_url)
    command.downgrade(config, "0004")
    engine = make_engine(migrated_url)
    rows = {
        tables.Dataset: dict(id="d" * 32, tenant=tables.LOCAL_TENANT, name="d", task="classification", n_samples=1,
                             n_features=1, dtype="float64", checksum="0" * 64, data=b"x", created_at=utcnow()),
        tables.Job: dict(id="j" * 32, tenant=tables.LOCAL_TENANT, dataset_id="d" * 32, spec={}, status="succeeded",
                         epoch=1, epochs=1, attempts=1, train_seconds=0.0, created_at=utcnow()),
        tables.EpochMetric: dict(job_id="j" * 32, epoch=1, record={"epoch": 1}),
        tables.Checkpoint: dict(job_id="j" * 32, epoch=1, data=b"c", created_at=utcnow()),
        tables.TrainedModel: dict(id="m" * 32, tenant=tables.LOCAL_TENANT, job_id="j" * 32, task="classification",
                                  n_features=1, spec={}, artefact=b"a", created_at=utcnow()),
    }
    try:
        with engine.begin() as connection:
            for table, row in rows.items():
                connection.execute(insert(table.__table__).values(**row))
        for step in (lambda: migrations.upgrade(migrated_url), lambda: command.downgrade(config, "0004"),
                     lambda: migrations.upgrade(migrated_url)):
            step()
            with engine.connect() as connection:
                counts = [connection.execute(select(func.count()).select_from(table)).scalar_one() for table in rows]
            assert counts == [1] * len(rows)
        with pytest.raises(IntegrityError, match="ck_jobs_status|CHECK constraint failed"):
            with engine.begin() as connection:
                connection.execute(update(tables.Job.__table__).values(status="paused"))
    finally:
        engine.dispose()


def test_0009_fills_an_uploads_task_reason_from_its_schema_and_leaves_the_others_null(migrated_url):
    config = migrations.alembic_config(migrated_url)
    command.downgrade(config, "0008")
    engine = make_engine(migrated_url)
    common = dict(tenant=tables.LOCAL_TENANT, name="d", task="classification", n_samples=1, n_features=1,
                  dtype="float64", checksum="0" * 64, data=b"x", created_at=utcnow())
    schema = {"columns": [], "target": {"name": "y", "kind": "string", "task": "classification",
                                        "task_reason": "the target holds text: class labels"}}
    datasets = tables.Dataset.__table__
    try:
        with engine.begin() as connection:
            connection.execute(insert(datasets).values(id="u" * 32, table_schema=schema, **common))
            connection.execute(insert(datasets).values(id="j" * 32, **common))
        migrations.upgrade(migrated_url)
        with engine.connect() as connection:
            reasons = dict(connection.execute(select(datasets.c.id, datasets.c.task_reason)).all())
        assert reasons == {"u" * 32: "the target holds text: class labels", "j" * 32: None}
    finally:
        engine.dispose()
