"""A full disk is a 507 problem with one warning, not a 500 with a traceback, and deletes still work.

The disk is a real 12 MiB tmpfs when this process may mount one (root); elsewhere SQLite's own
``PRAGMA max_page_count`` makes the real SQLite report "database or disk is full", and the test
that needs a real filesystem's free space is skipped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import event

import migrations
from service.app_state import app_state
from service import create_app

# Past SQLite's 4 MB write-ahead log, which it then checkpoints and writes again in place.
FILESYSTEM_KIB = 12 * 1024
MAX_PAGES = 400  # 1.6 MB of 4 KiB pages, for the fallback.
DATASET = {"generator": {"kind": "spiral", "n_samples": 2000}}  # About 30 KB stored.


@contextlib.contextmanager
def small_filesystem(path: Path) -> Iterator[bool]:
    """A 12 MiB tmpfs at ``path`` if one can be mounted here; yields whether it was."""
    path.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={FILESYSTEM_KIB}k", "tmpfs", str(path)],
        capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def full_disk_app(tmp_path, request):
    """Build an app whose SQLite database lives on a small disk; (build, whether it is a real tmpfs)."""
    stack = contextlib.ExitStack()
    folder = tmp_path / "small"
    real = stack.enter_context(small_filesystem(folder))

    def build(**settings):
        url = f"sqlite:///{folder / 'axon.db'}"
        if not (folder / "axon.db").exists():
            migrations.upgrade(url)
        app = create_app({"database_url": url, "broker_url": "memory://", "auth": False, **settings})
        if not real:
            @event.listens_for(app_state(app).engine, "connect")
            def _small(connection, _record):
                connection.execute(f"PRAGMA max_page_count={MAX_PAGES}")
        stack.callback(app_state(app).engine.dispose)
        return app

    yield build, real
    stack.close()


def fill(client, limit: int = 1000) -> tuple[list[str], object]:
    """POST datasets until one is refused; (the ids stored, the refusal)."""
    stored = []
    for _ in range(limit):
        response = client.post("/v1/datasets", json=DATASET)
        if response.status_code != 201:
            return stored, response
        stored.append(response.get_json()["id"])
    raise AssertionError(f"{limit} datasets fitted on a small disk")


def test_a_write_that_finds_the_disk_full_is_a_507_with_one_warning(full_disk_app, caplog):
    build, _ = full_disk_app
    client = build(min_free_disk_bytes=0).test_client()  # No room kept: the write itself fails.
    caplog.set_level(logging.WARNING)

    stored, refused = fill(client)

    assert stored, "not one dataset fitted"
    assert refused.status_code == 507, refused.get_data(as_text=True)
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["type"] == "urn:axon:problem:storage-full"
    warnings = [record for record in caplog.records if record.name == "service.errors"]
    assert [record.levelname for record in warnings] == ["WARNING"]
    assert "database or disk is full" in warnings[0].getMessage() and warnings[0].exc_info is None
    # Reads still answer.
    assert client.get(f"/v1/datasets/{stored[0]}").status_code == 200
    assert len(client.get("/v1/datasets?limit=1000").get_json()["items"]) == len(stored)


def test_room_is_kept_for_deletes_and_space_they_free_is_used_again(full_disk_app):
    build, real = full_disk_app
    if not real:
        pytest.skip("needs a real small filesystem (mounting a tmpfs needs root): free space is what it measures")
    # More than SQLite's 4 MB write-ahead log: one checkpoint can move that much into the database
    # file at once (measured: free space fell from 1.6 MB to 0 within a dozen 30 KB datasets).
    kept = 5 * 1024 * 1024
    client = build(min_free_disk_bytes=kept).test_client()

    stored, refused = fill(client)

    assert refused.status_code == 507 and refused.mimetype == "application/problem+json"
    assert "delete datasets" in refused.get_json()["detail"]
    assert shutil.disk_usage(Path(app_state(client.application).engine.url.database).parent).free > kept // 2
    # Deleting works on the nearly full disk, and reads do.
    deleted = stored[: len(stored) // 2]  # About 1.5 MB of pages: past the room kept.
    for dataset_id in deleted:
        assert client.delete(f"/v1/datasets/{dataset_id}").status_code == 204
    assert client.get(f"/v1/datasets/{stored[0]}").status_code == 404
    assert len(client.get("/v1/datasets?limit=1000").get_json()["items"]) == len(stored) - len(deleted)
    # The pages those deletes freed take new datasets again.
    assert client.post("/v1/datasets", json=DATASET).status_code == 201
