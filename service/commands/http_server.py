"""The API's HTTP server process: waitress on a listening socket it inherits, stopped gracefully.

Why waitress: its event loop reads each request whole (headers, and a body spooled to a temporary
file past 512 KiB) before a thread runs it, so a client that sends one byte a second costs a
socket, not a thread; gunicorn's threaded worker gives a thread to each connection as soon as its
first byte arrives, and 16 slow clients held all of them. A response is written from the thread
as the app yields it (``send_bytes=1``), so event streams still stream; each open one holds a
thread, which is why ``AXON_MAX_EVENT_STREAMS`` stays below ``--threads``.

``axon serve`` and ``axon api`` bind the socket and start one of these per process (``python -m
service.commands.http_server --fd N``), so several share one port the way gunicorn's workers do.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import socket
import time

from waitress import create_server, wasyncore
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask
from waitress.wasyncore import ExitNow

from service.app_state import app_state

# Connections one process keeps at once, slow ones included; more wait in the kernel's backlog.
# Each idle one costs a socket and a few KiB, so this is set far above the threads.
CONNECTION_LIMIT = 2000
# A kept-alive or half-sent request with no byte for this long is closed.
CHANNEL_TIMEOUT_SECONDS = 60
# A request head (its line and headers) still incomplete this long after its first byte is closed:
# a client dripping a byte every few seconds would otherwise keep its connection for days.
HEADER_SECONDS = 30
# How often both are checked.
CLEANUP_INTERVAL_SECONDS = 5
BACKLOG = 2048
STOP_POLL_SECONDS = 0.1

log = logging.getLogger("axon.http")


class ProblemErrorTask(ErrorTask):
    """waitress's own refusals (a body far over the limit, a malformed request) as problem+json,
    the shape of every other error."""

    def execute(self):
        error = self.request.error
        body = json.dumps({"type": "about:blank", "title": error.reason, "status": error.code,
                           "detail": error.body}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/problem+json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class ProblemChannel(HTTPChannel):
    """waitress's connection, answering its refusals as problems and timing each request head."""

    error_task_class = ProblemErrorTask
    head_started: float | None = None  # time.time() at the first byte of the request being read.

    def received(self, data):
        if data and self.request is None:
            self.head_started = time.time()
        return super().received(data)


def close_slow_heads(server, now: float) -> None:
    """Close each connection whose request head has taken longer than HEADER_SECONDS so far."""
    for channel in list(server.active_channels.values()):
        request, started = channel.request, getattr(channel, "head_started", None)
        if request is not None and not request.headers_finished and started is not None \
                and now - started > HEADER_SECONDS:
            channel.will_close = True


def make_server(app, sock: socket.socket, threads: int):
    """waitress serving ``app`` on the listening ``sock``, with Axon's channel and head deadline."""
    settings = app_state(app).settings
    server = create_server(app, sockets=[sock], **waitress_options(settings.max_body_bytes, threads))
    server.channel_class = ProblemChannel
    idle_cleanup = server.maintenance

    def maintenance(now: float) -> None:
        idle_cleanup(now)
        close_slow_heads(server, now)

    server.maintenance = maintenance
    return server


class Stop(ExitNow):
    """Raised by the stop signal's handler. waitress's loop lets ExitNow through, where it would
    hand any other exception to the connection it was serving."""


def waitress_options(max_body_bytes: int, threads: int) -> dict:
    """waitress's adjustments for the API (see waitress' ``Adjustments``)."""
    return {
        "threads": threads,
        "connection_limit": CONNECTION_LIMIT,
        "channel_timeout": CHANNEL_TIMEOUT_SECONDS,
        "cleanup_interval": CLEANUP_INTERVAL_SECONDS,
        "backlog": BACKLOG,
        # poll(2), not select(2): select cannot watch a descriptor numbered above 1023.
        "asyncore_use_poll": True,
        # A body is spooled whole before the app runs, so waitress bounds it too, while it arrives:
        # at twice the limit, as chunk framing counts here. It hands the app a chunked body with
        # its de-chunked Content-Length, and the app refuses anything over the limit itself.
        "max_request_body_size": 2 * max_body_bytes + 65536,
        "ident": "axon",
        "expose_tracebacks": False,
    }


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` that child processes can inherit."""
    family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    try:
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(app, sock: socket.socket, threads: int, grace_seconds: float) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or SIGINT, then stop gracefully.

    On a stop signal the socket stops accepting; requests under way (event streams included) get
    up to ``grace_seconds`` to finish, then whatever is left is closed.
    """
    server = make_server(app, sock, threads)

    def request_stop(_signum, _frame):
        raise Stop

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    try:
        server.run()
    except Stop:
        pass
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)  # A second signal must not cut the drain short.
    _drain(server, grace_seconds)


def _drain(server, grace_seconds: float) -> None:
    """Stop accepting, let busy connections finish for ``grace_seconds``, then close everything."""
    server.del_channel()  # Out of the loop: no more accepts.
    server.socket.close()
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(
            channel.requests or channel.total_outbufs_len for channel in server.active_channels.values()):
        wasyncore.loop(timeout=STOP_POLL_SECONDS, map=server._map, use_poll=True, count=1)
    busy = sum(1 for channel in server.active_channels.values() if channel.requests)
    if busy:
        log.warning("stopping with %d request(s) still running after %g s (event streams end here)",
                    busy, grace_seconds)
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
    wasyncore.close_all(server._map)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service.commands.http_server", description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="An inherited listening socket.")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--grace", type=float, default=10.0, help="Seconds for requests under way at a stop.")
    args = parser.parse_args(argv)
    from service import create_app

    sock = socket.socket(fileno=args.fd)
    serve(create_app(), sock, args.threads, args.grace)


if __name__ == "__main__":
    main()
