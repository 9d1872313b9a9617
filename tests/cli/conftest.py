"""Fixtures for the ``axon`` command tests."""

from __future__ import annotations

import os

import pytest

from axon import Client

from tests.support.live import live_server


@pytest.fixture
def axon_env(monkeypatch, tmp_path):
    """Run in-process commands (CliRunner) with only AXON_HOME set, to a temporary folder."""
    for name in list(os.environ):
        if name.startswith("AXON_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AXON_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The URL of one ``axon serve`` for every client test, with two items a page, so every list the
    client reads spans pages and following ``next`` is exercised for real.

    API keys are off: these tests are about the client and the commands, not authentication.
    """
    with live_server(tmp_path_factory.mktemp("serve"), AXON_PAGE_SIZE="2", AXON_AUTH="off") as url:
        yield url


@pytest.fixture(scope="session")
def client(server):
    with Client(server) as client:
        yield client
