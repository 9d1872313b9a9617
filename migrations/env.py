"""Alembic environment: the URL comes from the caller's config, else from Axon's settings."""

from alembic import context

from service.database import Base, make_engine
from service import tables  # noqa: F401  (registers the tables on Base.metadata)

config = context.config
url = config.get_main_option("sqlalchemy.url")
if not url:
    from service.settings import Settings

    url = Settings().resolved_database_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # A batch operation that rebuilds a table drops the old one, and with foreign keys on
            # that drop would delete the rows referring to it (ON DELETE CASCADE) or fail. SQLite
            # takes the setting only outside a transaction, hence here; the engine goes at the end.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # Ends SQLAlchemy's implicit transaction, which Alembic's would join and never commit.
        # Batch mode lets later migrations alter SQLite tables (which lack ALTER COLUMN).
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
