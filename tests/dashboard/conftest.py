"""A real ``axon serve`` (API key required) and the system's headless chromium driven by Playwright.

Chromium comes from Debian (scripts/ensure-browser.sh); Playwright never downloads a browser. A
missing chromium fails these tests, so CI cannot skip the dashboard silently.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from service.auth import create_key
from service.database import make_engine
from tests.support.processes import AXON, REPO_ROOT, clean_env, free_port, kill_group, spawn, wait_until_healthy

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "tests" / "artifacts" / "dashboard"  # Git-ignored; CI can keep the screenshots.
TENANT = "dashboard"
SERVER_SETTINGS = {
    "AXON_CHECKPOINT_SECONDS": "0",  # A checkpoint every epoch: the boundary follows training closely.
    "AXON_RECONCILE_SECONDS": "1",
}


class Server:
    """``axon serve`` in its own process group, with an API key for one tenant."""

    def __init__(self, home: Path, **settings: str):
        self.home, self.port, self.settings = home, free_port(), {**SERVER_SETTINGS, **settings}
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home.parent / "serve.log"
        self.process: subprocess.Popen | None = None
        self.key = ""

    def start(self) -> None:
        self.home.mkdir(parents=True)
        self.process = spawn([*AXON, "serve", "--port", str(self.port), "--grace", "1"],
                             clean_env(AXON_HOME=str(self.home), **self.settings), self.log_path, cwd=self.home.parent)
        wait_until_healthy(self.process, self.url, self.log_path)
        engine = make_engine(f"sqlite:///{self.home / 'axon.db'}")
        try:
            self.key = create_key(engine, TENANT)
        finally:
            engine.dispose()

    def stop(self) -> None:
        if self.process is not None:
            kill_group(self.process)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, headers={"Authorization": f"Bearer {self.key}"})


@contextlib.contextmanager
def running_server(folder: Path, **settings: str) -> Iterator[Server]:
    running = Server(folder / "home", **settings)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("dashboard")) as running:
        yield running


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory) -> Iterator[Server]:
    """A server that allows no event stream: every stream request is a 503 with Retry-After."""
    with running_server(tmp_path_factory.mktemp("dashboard-busy"), AXON_MAX_EVENT_STREAMS="0") as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-browser.sh (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser, server):
    """Pages on the server (or ``on`` another), each in a fresh browser profile; ``keyed`` stores the
    API key first.

    Console errors and uncaught exceptions fail the test: a page can look fine and still be broken.
    """
    contexts, errors = [], []

    def open_page(keyed: bool = True, on: Server | None = None):
        target = on or server
        context = browser.new_context(base_url=target.url, viewport={"width": 1280, "height": 900})
        if keyed:
            context.add_init_script(f"localStorage.setItem('axon.key', {target.key!r})")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        # The browser logs each 4xx answer ("Failed to load resource"); the pages show those in
        # words, which the tests check. Any other console error is a bug.
        page.on("console", lambda message: message.type == "error"
                and not message.text.startswith("Failed to load resource") and errors.append(message.text))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"errors in the page: {errors}"


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under tests/artifacts/dashboard/ and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
