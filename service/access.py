"""Request ids and the access log: one line per request, and ``X-Request-ID`` on every response.

An incoming ``X-Request-ID`` that is short and printable is kept, so a proxy's id follows the
request through Axon's logs; anything else is replaced by a fresh one.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from .errors import echo

REQUEST_ID_HEADER = "X-Request-ID"
# Visible ASCII only: the id goes into a response header and into log lines as it came.
SANE_REQUEST_ID = re.compile(r"[!-~]{1,128}")
# A path can be as long as the server takes a request line; the log keeps its start and length.
MAX_LOGGED_PATH_CHARACTERS = 512

access_log = logging.getLogger("axon.access")


def request_id() -> str:
    """The current request's id: the client's ``X-Request-ID`` when sane, else a new uuid4 hex."""
    if "request_id" not in g:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    return g.request_id


def init_access(app: Flask) -> None:
    """Time each request, echo its id, and log one access line when the response is ready."""

    def start() -> None:
        g.request_started = time.perf_counter()
        request_id()

    def finish(response: Response) -> Response:
        # after_request also runs for the problem+json answers of service.errors, so errors
        # carry the id too. A request stopped by an earlier before_request still gets an id.
        response.headers[REQUEST_ID_HEADER] = request_id()
        started = g.get("request_started")
        duration_ms = None if started is None else round((time.perf_counter() - started) * 1000, 3)
        # The address the connection came from: with a proxy in front, the proxy's.
        client = request.remote_addr
        path = echo(request.path, MAX_LOGGED_PATH_CHARACTERS)
        access_log.info("%s %s %s %d %s ms", client, request.method, path, response.status_code, duration_ms,
                        extra={"client": client, "method": request.method, "path": path,
                               "status": response.status_code, "duration_ms": duration_ms,
                               "tenant": g.get("tenant")})
        return response

    # First, so the timing covers the other hooks (authentication, say) and the id is set for them.
    app.before_request_funcs.setdefault(None, []).insert(0, start)
    app.after_request(finish)
