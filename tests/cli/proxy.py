"""A TCP proxy in front of the live server that can cut a connection mid-stream, as a flaky network would."""

from __future__ import annotations

import socket
import threading
from typing import Sequence

CHUNK_END = b"\r\n"  # What closes each chunk of a chunked HTTP/1.1 body.


class CuttingProxy:
    """Relay each connection to ``127.0.0.1:upstream_port``; cut the n-th one after ``cuts[n]``.

    ``cuts[n]`` is a marker such as ``b"id: 2\\n"``: the n-th connection relays the response up to the
    end of the chunk that holds the first event block with it, then closes both sides; ``b""`` closes
    it before the response's first byte. ``None`` (or no entry) relays everything. ``requests[n]`` is
    what the client sent on the n-th connection.
    """

    def __init__(self, upstream_port: int, cuts: Sequence[bytes | None]):
        self.upstream_port, self.cuts = upstream_port, list(cuts)
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:  # Closed.
                return
            index = len(self.requests)
            self.requests.append(b"")
            cut = self.cuts[index] if index < len(self.cuts) else None
            threading.Thread(target=self._relay, args=(downstream, index, cut), daemon=True).start()

    def _relay(self, downstream: socket.socket, index: int, cut: bytes | None) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        threading.Thread(target=self._forward_request, args=(downstream, upstream, index), daemon=True).start()
        received = b""
        try:
            while chunk := upstream.recv(65536):
                received += chunk
                end = _cut_point(received, cut) if cut is not None else None
                if end is not None:
                    downstream.sendall(chunk[:len(chunk) - (len(received) - end)])
                    return
                downstream.sendall(chunk)
        finally:
            for side in (downstream, upstream):
                # shutdown, not just close: the request thread's blocked recv would keep the socket open.
                try:
                    side.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                side.close()

    def _forward_request(self, downstream: socket.socket, upstream: socket.socket, index: int) -> None:
        try:
            while data := downstream.recv(65536):
                self.requests[index] += data
                upstream.sendall(data)
        except OSError:  # The relay closed both sockets.
            pass


def _cut_point(received: bytes, marker: bytes) -> int | None:
    """Where the chunk holding the event block with ``marker`` ends in ``received``, once all of it came;
    an empty marker cuts before the first byte of the response."""
    if not marker:
        return 0
    at = received.find(marker)
    if at < 0:
        return None
    block_end = received.find(b"\n\n", at)
    if block_end < 0:
        return None
    chunk_end = received.find(CHUNK_END, block_end + 2)
    return None if chunk_end < 0 else chunk_end + len(CHUNK_END)
