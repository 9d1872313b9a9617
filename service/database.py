"""The database: the declarative base with its naming convention, UTC datetimes, and the app's
handles on it: one engine per app, one session per request."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from flask import Flask, Response, g
from sqlalchemy import DateTime, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from .app_state import app_state
from .errors import database_unavailable_problem, first_line, problem_response

log = logging.getLogger(__name__)

# Named constraints let Alembic create and drop them by name on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Timezone-aware now; stored as UTC."""
    return datetime.now(timezone.utc)


def make_engine(url: str) -> Engine:
    """An engine that suits the backend: SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):
            # WAL lets the API read while a worker writes; foreign keys are off by default in SQLite.
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive ones)."""

    impl = DateTime
    cache_ok = True

    def __init__(self):
        super().__init__(timezone=True)

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use service.database.utcnow()")
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value



def init_db(app: Flask) -> None:
    @app.teardown_appcontext
    def _close_session(_error):
        # Normally closed already (close_request_session); this catches a request that ended
        # in an exception past the error handlers. A raise here would reach the server as its
        # own bare 500, so the loss is logged instead.
        session = g.pop("axon_session", None)
        if session is not None:
            try:
                session.close()
            except DBAPIError as error:
                log.warning("database connection lost while closing a session: %s", first_line(error))


def close_request_session(response: Response) -> Response:
    """After a view, close the request's session; a database lost at that point is a 503 problem.

    Closing rolls back on the connection, which fails when the database dropped it meanwhile.
    Done here, not at teardown, so the answer is still a problem+json 503 with an access line.
    """
    session = g.pop("axon_session", None)
    if session is None:
        return response
    try:
        session.close()
    except DBAPIError as error:
        log.warning("database connection lost while closing the request's session: %s", first_line(error))
        return problem_response(database_unavailable_problem())
    return response


def session_factory() -> sessionmaker:
    """Sessions for the current app, for code that manages its own transactions (the worker)."""
    return app_state().sessions


def get_session() -> Session:
    """The request's session, closed when the app context ends."""
    if "axon_session" not in g:
        g.axon_session = session_factory()()
    return g.axon_session
