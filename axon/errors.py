"""The errors :class:`axon.Client` raises: one class per kind of RFC 9457 problem the API
answers, each carrying the problem's fields, and :class:`AxonUnavailable` for a server that
cannot be reached."""

from __future__ import annotations

import httpx


class AxonError(Exception):
    """An error the API answered: the problem's ``status``, ``title``, ``detail`` and field ``errors``."""

    def __init__(self, status: int | None, title: str, detail: str, errors: list[dict] | None = None,
                 type: str = "about:blank", retry_after: float | None = None):
        super().__init__(f"{title}: {detail}")
        self.status, self.title, self.detail, self.type = status, title, detail, type
        self.errors = errors or []
        self.retry_after = retry_after  # Seconds, from a 429's or 503's Retry-After header.


class InvalidRequest(AxonError):
    """The request was refused as sent (400, 413, 415, 422); ``errors`` names each bad part."""


class Unauthorized(AxonError):
    """No API key, or an unknown or revoked one (401): set ``key=`` or AXON_KEY."""


class TooManyRequests(AxonError):
    """Over the key's rate limit or the tenant's active-job cap (429); ``retry_after`` says when to retry."""


class NotFound(AxonError):
    """No resource with that id (404)."""


class Conflict(AxonError):
    """The resource's state does not allow this (409), e.g. cancelling a finished job."""


class ServerError(AxonError):
    """The server failed (5xx): a bug in Axon or a dependency that is down."""


class AxonUnavailable(AxonError):
    """No answer from the server: refused, unreachable or timed out."""

    def __init__(self, url: str, reason: str):
        super().__init__(None, "Unavailable", f"cannot reach Axon at {url}: {reason}")


ERRORS_BY_STATUS = {400: InvalidRequest, 401: Unauthorized, 404: NotFound, 409: Conflict, 413: InvalidRequest,
                    415: InvalidRequest, 422: InvalidRequest, 429: TooManyRequests}


def problem_error(response: httpx.Response) -> AxonError:
    """The typed error for an error ``response``, from its problem+json body when it has one."""
    status = response.status_code
    kind = ERRORS_BY_STATUS.get(status, ServerError if status >= 500 else AxonError)
    retry_after = response.headers.get("Retry-After", "")
    retry_after = float(retry_after) if retry_after.isdecimal() else None  # The HTTP-date form: ignored.
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):  # A proxy's HTML page, say: keep what little it says.
        return kind(status, response.reason_phrase, response.text.strip()[:200] or response.reason_phrase,
                    retry_after=retry_after)
    return kind(status, problem.get("title", response.reason_phrase), problem.get("detail", ""),
                problem.get("errors"), problem.get("type", "about:blank"), retry_after)
