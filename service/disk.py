"""A full disk: a 507 problem instead of a 500, and room kept for the deletes that free space.

SQLite writes every change to its write-ahead log first, deletes too, so once the disk is full
nothing can be deleted through the API either. On an embedded (SQLite) database the API therefore
refuses new datasets and jobs with a 507 while the database's folder, counting the pages SQLite
has freed and will reuse, has less than ``min_free_disk_bytes`` left beyond the body: what is left
stays for deletes, cancels, the worker's progress and SQLite's checkpoints (one of which can move
the whole 4 MB write-ahead log into the database file at once: keep more than that). Where a write hits a
full disk all the same (or PostgreSQL's does), :mod:`service.errors` answers 507 as well.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from flask import Flask, request
from sqlalchemy.engine import Engine

from .app_state import app_state
from .errors import InsufficientStorage
from .settings import Settings

log = logging.getLogger(__name__)

# The routes that add data; every other write (a delete, a cancel) is small and frees space.
CREATING_RULES = ("/v1/datasets", "/v1/jobs")


def usable_bytes(engine: Engine, database: Path) -> int:
    """Bytes the SQLite ``database`` can still grow by: the disk's free space and the pages it
    freed (a delete's pages, which the next inserts reuse)."""
    with engine.connect() as connection:
        free_pages = connection.exec_driver_sql("PRAGMA freelist_count").scalar()
        page_size = connection.exec_driver_sql("PRAGMA page_size").scalar()
    return shutil.disk_usage(database.parent).free + free_pages * page_size


def init_disk(app: Flask, settings: Settings) -> None:
    """Keep ``min_free_disk_bytes`` free for deletes on an embedded database (after the blueprints)."""
    if not settings.embedded or settings.min_free_disk_bytes == 0:
        return
    engine = app_state(app).engine
    database = engine.url.database
    if not database or database == ":memory:":
        return
    database = Path(database).absolute()
    creating = {rule.endpoint for rule in app.url_map.iter_rules()
                if rule.rule in CREATING_RULES and "POST" in (rule.methods or ())}

    @app.before_request
    def _keep_room_for_deletes():
        if request.method != "POST" or request.endpoint not in creating:
            return
        needed = settings.min_free_disk_bytes + (request.content_length or 0)
        usable = usable_bytes(engine, database)
        if usable < needed:
            log.warning("refusing %s %s: %d bytes left for the database, fewer than min_free_disk_bytes (%d) "
                        "beyond the body", request.method, request.path, usable, settings.min_free_disk_bytes)
            raise InsufficientStorage(
                f"the database's disk is nearly full ({usable} bytes left, {settings.min_free_disk_bytes} kept for "
                "deletes): delete datasets you no longer need, or ask the operator for more space")
