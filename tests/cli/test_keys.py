"""``axon keys`` against a real ``axon serve`` with auth on, and auth off refused off loopback."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.support.live import live_server
from tests.support.processes import AXON, clean_env, free_port


def run(*args: str, cwd=None, **settings: str) -> subprocess.CompletedProcess:
    return subprocess.run([*AXON, *args], env=clean_env(**settings), capture_output=True, text=True, timeout=60,
                          cwd=cwd)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, home, folder) of an ``axon serve`` with auth on (the default)."""
    folder = tmp_path_factory.mktemp("keys")
    with live_server(folder, AXON_KEY_CACHE_SECONDS="0") as url:  # A revocation shows at once.
        yield url, str(folder / "home"), folder


def test_a_key_works_until_it_is_revoked(served):
    url, home, _ = served
    created = run("keys", "create", "--tenant", "acme", AXON_HOME=home)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("axon_") and "\n" not in key
    assert "only time the key is shown" in created.stderr

    assert run("jobs", AXON_URL=url, AXON_KEY=key).returncode == 0
    refused = run("jobs", AXON_URL=url)
    assert refused.returncode == 1 and "API key is required" in refused.stderr

    listed = run("keys", "list", "--tenant", "acme", AXON_HOME=home)
    assert listed.returncode == 0 and key[:12] in listed.stdout and key not in listed.stdout

    key_id = created.stderr.split("key id ")[1].split()[0]
    assert run("keys", "revoke", key_id, AXON_HOME=home).returncode == 0
    revoked = run("jobs", AXON_URL=url, AXON_KEY=key)
    assert revoked.returncode == 1 and "unknown or revoked" in revoked.stderr
    again = run("keys", "revoke", key_id, AXON_HOME=home)
    assert again.returncode == 1 and "no live key" in again.stderr


def test_keys_of_two_tenants_see_only_their_own_datasets(served):
    url, home, _ = served
    alice, bob = (run("keys", "create", "--tenant", name, AXON_HOME=home).stdout.strip() for name in ("alice", "bob"))
    made = run("dataset", "create", "--generator", "circle", "--samples", "50", AXON_URL=url, AXON_KEY=alice)
    assert made.returncode == 0, made.stderr
    alice_list = run("datasets", AXON_URL=url, AXON_KEY=alice).stdout
    bob_list = run("datasets", AXON_URL=url, AXON_KEY=bob).stdout
    assert "circle" in alice_list and "circle" not in bob_list


def test_a_bad_tenant_name_is_a_usage_error(tmp_path):
    completed = run("keys", "create", "--tenant", "no spaces", AXON_HOME=str(tmp_path))
    assert completed.returncode == 2 and "tenant name" in completed.stderr


def test_serve_says_auth_is_on(served):
    _, _, folder = served
    deadline = time.monotonic() + 10
    while "auth:" not in (folder / "serve.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "auth:     on" in (folder / "serve.log").read_text()


@pytest.mark.parametrize("command", ["serve", "api"])
def test_auth_off_is_refused_off_loopback(tmp_path, command):
    completed = run(command, "--host", "0.0.0.0", "--port", str(free_port()), AXON_AUTH="off",
                    AXON_HOME=str(tmp_path))
    assert completed.returncode == 1
    assert "AXON_AUTH=off is allowed only on a loopback address" in completed.stderr


def test_keys_say_which_database_they_use(served):
    url, home, folder = served
    created = run("keys", "create", "--tenant", "shown", AXON_HOME=home)
    assert created.returncode == 0, created.stderr
    served_database = f"database: sqlite:///{Path(home) / 'axon.db'}"
    assert created.stderr.splitlines()[0] == f"axon keys: {served_database}"
    assert f"  {served_database}\n" in (folder / "serve.log").read_text()  # The same file `axon serve` named.


def test_the_default_database_is_the_users_wherever_the_command_runs(tmp_path):
    """With AXON_HOME unset, every command uses ~/.local/share/axon (or $XDG_DATA_HOME/axon), not the
    current folder: ``keys list`` from a folder without a database makes none there, and finds the one
    ``keys create`` made from another folder."""
    user = tmp_path / "user"
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()

    def keys(*args, cwd, **extra):
        env = {name: value for name, value in clean_env(HOME=str(user), **extra).items()
               if name != "XDG_DATA_HOME" or extra}
        return subprocess.run([*AXON, "keys", *args], env=env, capture_output=True, text=True, timeout=60, cwd=cwd)

    default = user / ".local" / "share" / "axon" / "axon.db"
    for args in (["list"], ["revoke", "some-id"]):
        completed = keys(*args, cwd=here)
        assert completed.returncode == 1
        assert f"no Axon database at {default}" in completed.stderr
        assert not default.exists() and list(here.iterdir()) == []
    created = keys("create", "--tenant", "acme", cwd=here)
    assert created.returncode == 0, created.stderr
    assert created.stderr.splitlines()[0] == f"axon keys: database: sqlite:///{default}"
    listed = keys("list", cwd=there)
    assert listed.returncode == 0 and "acme" in listed.stdout
    assert list(here.iterdir()) == list(there.iterdir()) == []
    xdg = tmp_path / "xdg"
    moved = keys("list", cwd=here, XDG_DATA_HOME=str(xdg))
    assert moved.returncode == 1 and f"no Axon database at {xdg / 'axon' / 'axon.db'}" in moved.stderr


def test_the_worker_and_the_api_say_which_database_they_use(tmp_path):
    """Both print it first thing; an option celery refuses, or too few threads, ends them right after."""
    home = tmp_path / "home"
    worker = run("worker", "--", "--no-such-celery-option", AXON_HOME=str(home))
    assert worker.returncode != 0
    assert f"axon worker: database: sqlite:///{home / 'axon.db'}" in worker.stderr
    api = run("api", "--port", str(free_port()), "--threads", "2",
              AXON_DATABASE_URL="postgresql+psycopg://axon:secret@127.0.0.1:1/axon")
    assert api.returncode == 1 and "must be below the threads per process" in api.stderr
    assert "axon api: database: postgresql+psycopg://axon:**@127.0.0.1:1/axon" in api.stderr
