"""The embedded broker (kombu's SQLAlchemy transport on SQLite), woken by the API instead of polled.

kombu's virtual transports find a message by polling its table, and sleep ``polling_interval``
(1 s) after each empty poll: an embedded job waited 0.42 s (median) between its POST and a worker
taking it. Polling faster costs idle CPU (see docs/benchmarks.md). Instead the worker waits on a
Linux abstract UNIX datagram socket named after the broker's database, and the API sends one byte
to it after each publish (:func:`wake`): the worker's wait ends at once and it polls.

A wake-up is only a hint. One that is lost (no worker listening yet, a full socket buffer, another
OS, a second worker that took the name) costs latency, never a job: the worker still polls every
:data:`FALLBACK_POLL_SECONDS`, and the message waits in the table until it does. Brokers that are
not SQLite behave exactly as kombu's own transport.
"""

from __future__ import annotations

import hashlib
import os
import select
import socket
import sys
from queue import Empty
from time import monotonic

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport

# kombu's own interval: what a lost wake-up costs at most. AXON_BROKER_POLL_SECONDS and
# AXON_BROKER_WAKEUPS=0 exist to measure the alternatives (bench/embedded_latency.py) and to test
# that jobs still run when every wake-up is lost; they are read here because kombu builds the
# transport, not the app.
FALLBACK_POLL_SECONDS = float(os.environ.get("AXON_BROKER_POLL_SECONDS", "1.0"))
WAKEUPS = sys.platform.startswith("linux") and os.environ.get("AXON_BROKER_WAKEUPS", "1") != "0"


def wake_address(broker_url: str) -> str:
    """The abstract socket name for the SQLite broker at ``broker_url`` (sqla+sqlite:///path)."""
    database_url = broker_url.split("+", 1)[-1]
    return "\0axon-broker-" + hashlib.sha256(database_url.encode()).hexdigest()[:32]


def wake(broker_url: str) -> bool:
    """Tell the worker consuming the SQLite broker at ``broker_url`` that a message is waiting.

    Never blocks and never raises: False when nobody listens or the wake-up could not be sent,
    which only delays the job until the worker's next poll.
    """
    if not WAKEUPS or not broker_url.startswith("sqla+sqlite"):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        try:
            sender.sendto(b"!", wake_address(broker_url))
        except OSError:  # ECONNREFUSED or ENOENT: no worker; EAGAIN: it has wake-ups pending anyway.
            return False
    return True


class Waker:
    """The worker's end: a bound datagram socket to wait on; None-like (``bound`` False) if the bind failed."""

    def __init__(self, broker_url: str):
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.setblocking(False)
        try:
            self.socket.bind(wake_address(broker_url))
            self.bound = True
        except OSError:  # Another worker on the same broker holds the name: this one polls.
            self.bound = False

    def wait(self, seconds: float) -> None:
        """Sleep until a wake-up arrives or ``seconds`` pass; consume every pending wake-up."""
        ready, _, _ = select.select([self.socket], [], [], seconds)
        if ready:
            try:
                while self.socket.recv(64):
                    pass
            except BlockingIOError:
                pass

    def close(self) -> None:
        self.socket.close()


class Transport(SQLAlchemyTransport):
    """kombu's SQLAlchemy transport; on SQLite its empty-poll sleep ends early on a wake-up."""

    polling_interval = FALLBACK_POLL_SECONDS
    _waker: Waker | None = None

    def drain_events(self, connection, timeout=None):
        hostname = self.client.hostname or ""
        if not WAKEUPS or not hostname.startswith("sqlite"):
            return super().drain_events(connection, timeout)
        if self._waker is None:
            self._waker = Waker(f"sqla+{hostname}")
        # kombu's virtual drain_events, with the sleep after an empty poll replaced by the wait.
        started, polling_interval = monotonic(), self.polling_interval
        if timeout and polling_interval > timeout:
            polling_interval = timeout
        while True:
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                if timeout is not None and monotonic() - started >= timeout:
                    raise socket.timeout()
                self._waker.wait(polling_interval)

    def close_connection(self, connection):
        if self._waker is not None:
            self._waker.close()
            self._waker = None
        super().close_connection(connection)


def install() -> None:
    """Make ``sqla+...`` broker URLs use :class:`Transport` in this process (kombu resolves them by alias)."""
    TRANSPORT_ALIASES["sqla"] = f"{__name__}:Transport"
    TRANSPORT_ALIASES["sqlalchemy"] = f"{__name__}:Transport"
