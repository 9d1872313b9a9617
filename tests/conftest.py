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
