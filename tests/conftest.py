"""Fixtures shared by more than one test package."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime

import pytest

from service.logs import make_handler


class JsonLog:
    """What Axon's JSON handler on the root logger has written so far: call it for the lines, parsed."""

    def __init__(self, stream: io.StringIO):
        self.stream = stream

    def text(self) -> str:
        return self.stream.getvalue()

    def __call__(self) -> list[dict]:
        text = self.text()
        assert text == "" or text.endswith("\n")
        parsed = [json.loads(line) for line in text.splitlines()]  # Every line is one JSON object.
        for line in parsed:
            assert {"time", "level", "logger", "message"} <= set(line), line
            datetime.fromisoformat(line["time"])
        return parsed


@pytest.fixture
def json_log():
    """Axon's JSON handler on the root logger at INFO (a test may lower the root's level; it is
    restored), catching every line logged during the test."""
    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield JsonLog(stream)
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(autouse=True, scope="session")
def _user_data_folder(tmp_path_factory):
    """Point the per-user data folder (AXON_HOME's default) into the session's temporary folder, so
    no test, nor any command a test starts, reads or writes the real ~/.local/share/axon."""
    import os

    previous = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    yield
    if previous is None:
        os.environ.pop("XDG_DATA_HOME")
    else:
        os.environ["XDG_DATA_HOME"] = previous
