"""The app's database handles: one engine per app, one session per request."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from .db import make_engine, make_session_factory
from .errors import database_unavailable_problem, first_line, problem_response
from .settings import Settings

log = logging.getLogger(__name__)


def init_db(app: Flask, settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    app.extensions["axon.engine"] = engine
    app.extensions["axon.sessions"] = make_session_factory(engine)

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
    return current_app.extensions["axon.sessions"]


def get_session() -> Session:
    """The request's session, closed when the app context ends."""
    if "axon_session" not in g:
        g.axon_session = session_factory()()
    return g.axon_session
