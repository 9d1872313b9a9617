"""``axon keys`` against a real ``axon serve`` with auth on, and auth off refused off loopback."""

from __future__ import annotations

import subprocess
import time

import pytest

from .live import live_server
from .processes import AXON, clean_env, free_port


def run(*args: str, **settings: str) -> subprocess.CompletedProcess:
    return subprocess.run([*AXON, *args], env=clean_env(**settings), capture_output=True, text=True, timeout=60)


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
