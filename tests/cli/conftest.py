"""Fixtures for the ``axon`` command tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def axon_env(monkeypatch, tmp_path):
    """Run in-process commands (CliRunner) with only AXON_HOME set, to a temporary folder."""
    for name in list(os.environ):
        if name.startswith("AXON_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AXON_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
