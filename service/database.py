"""The app's database handles: one engine per app, one session per request."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from .db import make_engine, make_session_factory
from .settings import Settings


def init_db(app: Flask, settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    app.extensions["axon.engine"] = engine
    app.extensions["axon.sessions"] = make_session_factory(engine)

    @app.teardown_appcontext
    def _close_session(_error):
        session = g.pop("axon_session", None)
        if session is not None:
            session.close()


def session_factory() -> sessionmaker:
    """Sessions for the current app, for code that manages its own transactions (the worker)."""
    return current_app.extensions["axon.sessions"]


def get_session() -> Session:
    """The request's session, closed when the app context ends."""
    if "axon_session" not in g:
        g.axon_session = session_factory()()
    return g.axon_session
