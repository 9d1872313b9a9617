"""The API's HTTP server over a real socket (``axon serve`` and ``axon api``): bodies over the
limit whatever their framing, content codings, and a graceful stop."""

from __future__ import annotations

import contextlib
import gzip
import json
import signal
import socket
import time

import httpx
import pytest

import migrations
from service.app_state import app_state
from service import create_app
from service.auth import create_key

from tests.support.processes import AXON, clean_env, free_port, log_tail, spawn, started_server, wait_until_healthy

MAX_BODY_BYTES = 4096
DATASET = json.dumps({"generator": {"kind": "spiral", "n_samples": 50}}).encode()


@pytest.fixture(scope="module", params=["serve", "api"])
def server(request, tmp_path_factory):
    """(url, auth headers) of ``axon serve`` or ``axon api`` with a 4 KiB body limit."""
    folder = tmp_path_factory.mktemp(request.param)
    database_url = f"sqlite:///{folder / 'axon.db'}"
    migrations.upgrade(database_url)
    app = create_app({"database_url": database_url, "broker_url": "memory://"})
    headers = {"Authorization": f"Bearer {create_key(app_state(app).engine, 'bodies')}"}
    app_state(app).engine.dispose()
    port = free_port()
    argv = ([*AXON, "serve", "--port", str(port), "--grace", "1"] if request.param == "serve" else
            [*AXON, "api", "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--grace", "1"])
    env = clean_env(AXON_HOME=str(folder / "home"), AXON_DATABASE_URL=database_url, AXON_BROKER_URL="memory://",
                    AXON_MAX_BODY_BYTES=str(MAX_BODY_BYTES))
    url = f"http://127.0.0.1:{port}"
    with started_server(argv, env, url, folder / "server.log", cwd=folder):
        yield url, headers


def in_chunks(body: bytes, size: int = 1000):
    """``body`` as an iterator, which httpx sends with Transfer-Encoding: chunked."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


def post_dataset(server, content, **headers) -> httpx.Response:
    url, auth = server
    return httpx.post(f"{url}/v1/datasets", content=content, timeout=30,
                      headers={**auth, "Content-Type": "application/json", **headers})


def datasets(server) -> list:
    url, auth = server
    return httpx.get(f"{url}/v1/datasets", headers=auth, timeout=10).json()["items"]


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    return response.json()


@pytest.mark.parametrize("padding", [MAX_BODY_BYTES, 20 * MAX_BODY_BYTES])
def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_stored(server, padding):
    # Valid JSON padded with spaces: cut at the limit it still parses (and was stored, 201).
    padded = DATASET + b" " * padding
    before = len(datasets(server))
    response = post_dataset(server, in_chunks(padded))
    assert "Content-Length" not in response.request.headers
    assert_problem(response, 413)
    assert len(datasets(server)) == before


def test_a_body_with_content_length_over_the_limit_is_413(server):
    assert_problem(post_dataset(server, DATASET[:-1] + b" " * MAX_BODY_BYTES + b"}"), 413)


def test_a_chunked_body_within_the_limit_is_read_whole(server):
    response = post_dataset(server, in_chunks(DATASET, size=7))
    assert response.status_code == 201, response.text
    assert response.json()["n_samples"] == 50


def test_a_gzip_body_is_415_naming_the_encoding(server):
    problem = assert_problem(post_dataset(server, gzip.compress(DATASET), **{"Content-Encoding": "gzip"}), 415)
    assert "gzip" in problem["detail"]


def test_a_stop_lets_a_request_under_way_finish_within_the_grace(tmp_path):
    """SIGTERM to ``axon api``: the port stops accepting at once, an open event stream keeps
    streaming until the grace is over, then everything exits 0."""
    database_url = f"sqlite:///{tmp_path / 'axon.db'}"
    migrations.upgrade(database_url)
    app = create_app({"database_url": database_url, "broker_url": "memory://", "auth": False})
    client = app.test_client()
    dataset = client.post("/v1/datasets", json={"generator": {"kind": "circle", "n_samples": 40}}).get_json()
    job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": {"layers": []}}).get_json()
    app_state(app).engine.dispose()
    port, grace = free_port(), 3
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "api.log"
    env = clean_env(AXON_HOME=str(tmp_path), AXON_DATABASE_URL=database_url, AXON_BROKER_URL="memory://",
                    AXON_AUTH="off")
    process = spawn([*AXON, "api", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                     "--grace", str(grace)], env, log_path)
    try:
        wait_until_healthy(process, url, log_path)
        with httpx.stream("GET", f"{url}/v1/jobs/{job['id']}/events", timeout=30) as stream:
            lines = stream.iter_lines()
            assert next(lines) == ": keep-alive"  # At once, not after the 15 s heartbeat.
            process.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            # Stream open while the grace lasts; the server cuts it at the end.
            with contextlib.suppress(httpx.RemoteProtocolError):
                for _ in lines:
                    pass
            held = time.monotonic() - stopped
        exit_code = process.wait(timeout=grace + 10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert exit_code == 0, log_tail(log_path)
    assert grace - 0.5 <= held <= grace + 3, held
    assert "still running after" in log_tail(log_path)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=2)


def pump(server, seconds: float, each=lambda: None) -> None:
    """Run waitress's loop here, in this thread, for ``seconds``, calling ``each`` between turns."""
    from waitress import wasyncore

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        wasyncore.loop(timeout=0.05, map=server._map, use_poll=True, count=1)
        each()


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def read_what_came(sock: socket.socket, into: list[bytes]) -> None:
    with contextlib.suppress(BlockingIOError):
        into.append(sock.recv(4096, socket.MSG_DONTWAIT))


def test_a_request_head_still_arriving_after_the_header_deadline_is_closed(tmp_path, monkeypatch):
    """A slowloris loses its connection once its head has taken HEADER_SECONDS; a kept-alive
    connection that is merely idle keeps its own."""
    from waitress import wasyncore

    from service.commands import http_server

    monkeypatch.setattr(http_server, "HEADER_SECONDS", 1.0)
    monkeypatch.setattr(http_server, "CLEANUP_INTERVAL_SECONDS", 0)  # Check at every turn of the loop.
    database_url = f"sqlite:///{tmp_path / 'axon.db'}"
    migrations.upgrade(database_url)
    app = create_app({"database_url": database_url, "broker_url": "memory://", "auth": False})
    server = http_server.make_server(app, http_server.listen("127.0.0.1", 0), threads=2)
    port = server.socket.getsockname()[1]
    try:
        idle = socket.create_connection(("127.0.0.1", port))
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer: list[bytes] = []
        pump(server, 1.0, lambda: read_what_came(idle, answer))
        slow = socket.create_connection(("127.0.0.1", port))
        head = iter(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200)

        sent_at, closed_at = [0.0], []

        def drip() -> None:  # Ten bytes a second: the head would take 24 s.
            if closed_at:
                return
            if closed_by_server(slow):
                closed_at.append(time.monotonic())
            elif time.monotonic() - sent_at[0] >= 0.1:
                slow.send(bytes([next(head)]))
                sent_at[0] = time.monotonic()

        started = time.monotonic()
        pump(server, 2.5, drip)

        assert closed_at, "the slow head was still being read"
        assert 1.0 <= closed_at[0] - started < 2.5
        assert b"".join(answer).startswith(b"HTTP/1.1 200"), answer
        assert not closed_by_server(idle)  # Idle between requests, within the 60 s idle timeout.
    finally:
        server.task_dispatcher.shutdown(timeout=1)
        wasyncore.close_all(server._map)
        app_state(app).engine.dispose()
