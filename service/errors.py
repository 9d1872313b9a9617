"""Every error the API answers, as RFC 9457 ``application/problem+json``, from one place.

Views raise :class:`ApiError` (or let a pydantic ``ValidationError`` become one through
:func:`invalid_body`); Werkzeug's HTTP errors (unknown route, wrong method, body too large) and
unexpected exceptions go through the same handlers, so every error has the same shape.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from typing import Any, Iterable, Sequence

from flask import Flask, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Enough to fix a request by; a body of a million bad numbers must not answer a million entries.
MAX_LISTED_ERRORS = 50
DATABASE_RETRY_SECONDS = 5
# Connection exceptions (08), operator intervention such as a shutdown (57P0x), too many connections.
UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P0", "53300")
UNAVAILABLE_SQLITE_MESSAGES = ("unable to open database file", "database is locked", "disk I/O error")
# PostgreSQL's disk_full; SQLite's SQLITE_FULL, which also reports a max_page_count reached.
FULL_SQLSTATE = "53100"
FULL_SQLITE_MESSAGE = "database or disk is full"
# Input quoted back in a problem (an id, a column name, a cell) is cut to this many characters, and
# every string of a problem to the second: a 60 MB id must not come back in a 120 MB answer.
MAX_ECHOED_CHARACTERS = 64
MAX_PROBLEM_STRING_CHARACTERS = 2000
# Prefixes pydantic puts before the message of an exception raised in a validator.
VALIDATOR_PREFIXES = ("Value error, ", "Assertion failed, ")


def echo(value: object, limit: int = MAX_ECHOED_CHARACTERS) -> str:
    """``value`` as text fit to quote in a problem: cut after ``limit`` characters, saying how long it was."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


class FieldError(BaseModel):
    """One invalid part of a request; exactly one of pointer, parameter, field or component."""

    pointer: str | None = Field(None, description="JSON pointer into the request body, e.g. /spec/layers/0/units.")
    parameter: str | None = Field(None, description="Name of the invalid query parameter.")
    field: str | None = Field(None, description="Name of the invalid multipart form field.")
    component: str | None = Field(None, description="The dependency that failed (readiness checks).")
    row: int | None = Field(None, description="1-based line of an uploaded CSV file.")
    column: str | None = Field(None, description="Column of an uploaded CSV file.")
    detail: str


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, in a shape every error shares."""

    type: str = Field("about:blank", description="URI naming the kind of problem.")
    title: str = Field(..., description="Short summary of the kind of problem.")
    status: int = Field(..., description="The HTTP status code.")
    detail: str = Field(..., description="What went wrong with this request.")
    errors: list[FieldError] | None = Field(None, description="Each invalid part of the request (validation errors).")


class ApiError(Exception):
    """An error answered as a problem; each subclass sets its status, title and type."""

    status = 500
    title = "Internal Server Error"
    type = "about:blank"

    def __init__(self, detail: str, errors: Sequence[dict] | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = headers or {}


class MalformedBody(ApiError):
    status, title = 400, "Bad Request"


class NotFound(ApiError):
    status, title = 404, "Not Found"

    def __init__(self, resource: str, resource_id: str):
        super().__init__(f"no {resource} with id '{echo(resource_id)}'")


class Conflict(ApiError):
    status, title, type = 409, "Conflict", "urn:axon:problem:conflict"


class UnsupportedMediaType(ApiError):
    status, title = 415, "Unsupported Media Type"

    def __init__(self, given: str, accepted: Iterable[str]):
        accepted = list(accepted)
        super().__init__(
            f"Content-Type must be {' or '.join(accepted)}, got '{echo(given) or 'none'}'",
            headers={"Accept": ", ".join(accepted)},  # RFC 9110 §15.5.16: say what would work.
        )


class UnsupportedContentEncoding(ApiError):
    status, title = 415, "Unsupported Media Type"

    def __init__(self, given: str):
        # RFC 9110 §15.5.16: a 415 for a content coding names the codings accepted in Accept-Encoding.
        super().__init__(f"Content-Encoding '{echo(given)}' is not supported; send the body uncompressed",
                         headers={"Accept-Encoding": "identity"})


class InvalidRequest(ApiError):
    status, title, type = 422, "Unprocessable Content", "urn:axon:problem:validation"

    def __init__(self, errors: Sequence[dict], detail: str | None = None):
        errors = list(errors)
        listed = errors[:MAX_LISTED_ERRORS]
        if detail is None:
            detail = "; ".join(_describe(error) for error in listed[:3])
            if len(errors) > 3:
                detail += f" (and {len(errors) - 3} more)"
        super().__init__(detail, listed)


class TooManyRequests(ApiError):
    status, title, type = 429, "Too Many Requests", "urn:axon:problem:too-many-requests"

    def __init__(self, detail: str, retry_after: float):
        # Retry-After is whole seconds (RFC 9110 §10.2.3); rounding down would invite an early retry.
        super().__init__(detail, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


class InsufficientStorage(ApiError):
    status, title, type = 507, "Insufficient Storage", "urn:axon:problem:storage-full"


class NotReady(ApiError):
    status, title, type = 503, "Service Unavailable", "urn:axon:problem:not-ready"


def _describe(error: dict) -> str:
    where = error.get("pointer") or error.get("parameter") or error.get("field") or error.get("component") or "body"
    return f"{where}: {error['detail']}"


def json_pointer(location: Sequence[str | int], document: Any, prefix: str = "") -> str:
    """The JSON pointer (RFC 6901) of a pydantic error location inside ``document``.

    Pydantic puts the tag of a discriminated union (``('optimizer', 'adam', 'learning_rate')``)
    and the member of a plain union (``('targets', 3, 'str')``) in the location; neither is in
    the request, so an element that does not name a key or index of the document is dropped.
    The last element is kept when it names a missing key of an object.
    """
    parts = []
    current = document
    for position, element in enumerate(location):
        if isinstance(current, dict) and element in current:
            current = current[element]
        elif isinstance(current, list) and isinstance(element, int) and 0 <= element < len(current):
            current = current[element]
        elif isinstance(current, dict) and position == len(location) - 1:
            pass  # A required key the request left out.
        else:
            continue  # A union tag or member name.
        parts.append(str(element).replace("~", "~0").replace("/", "~1"))
    return prefix + "".join(f"/{part}" for part in parts)


def _message(error: dict) -> str:
    message = error["msg"]
    for prefix in VALIDATOR_PREFIXES:
        message = message.removeprefix(prefix)
    return message


def invalid_body(error: ValidationError, document: Any, prefix: str = "") -> InvalidRequest:
    """An :class:`InvalidRequest` naming each invalid part of a JSON body by pointer.

    ``prefix`` places ``document`` inside the body (``/spec`` when a spec was re-validated alone).
    """
    seen, errors = set(), []
    for item in error.errors(include_url=False, include_input=False):
        entry = {"pointer": json_pointer(item["loc"], document, prefix), "detail": _message(item)}
        # A plain union reports one error per member at the same place; one is enough.
        if entry["pointer"] not in seen:
            seen.add(entry["pointer"])
            errors.append(entry)
    return InvalidRequest(errors)


def invalid_names(error: ValidationError, kind: str) -> InvalidRequest:
    """An :class:`InvalidRequest` naming each invalid query parameter or form field (``kind``)."""
    errors = [
        {kind: str(item["loc"][0]) if item["loc"] else "", "detail": _message(item)}
        for item in error.errors(include_url=False, include_input=False)
    ]
    return InvalidRequest(errors)


def problem_response(error: ApiError) -> Response:
    """``error`` as problem+json, each string in it cut to MAX_PROBLEM_STRING_CHARACTERS."""
    errors = None if error.errors is None else [
        {name: echo(value, MAX_PROBLEM_STRING_CHARACTERS) if isinstance(value, str) else value
         for name, value in item.items()}
        for item in error.errors]
    problem = Problem(type=error.type, title=error.title, status=error.status,
                      detail=echo(error.detail, MAX_PROBLEM_STRING_CHARACTERS), errors=errors)
    body = problem.model_dump_json(exclude_none=True)
    return Response(body, error.status, error.headers, mimetype=PROBLEM_MEDIA_TYPE)


def parameter_validation_callback(error: ValidationError) -> Response:
    """flask-openapi3 validates typed path and query parameters and hands failures here."""
    return problem_response(invalid_names(error, "parameter"))


class _HttpProblem(ApiError):
    """A Werkzeug HTTP error (unknown route, wrong method, body too large) as a problem."""

    def __init__(self, error: HTTPException):
        super().__init__(error.description or error.name)
        self.status, self.title = error.code or 500, error.name
        # Werkzeug's own headers describe its HTML page; only Allow (405) still applies.
        self.headers = {name: value for name, value in error.get_headers() if name == "Allow"}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return problem_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        return problem_response(_HttpProblem(error))

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_error(error: OperationalError | InterfaceError):
        if database_full(error):
            # Not a bug, and nothing a traceback per request would help with: the operator needs
            # one clear line, the client a problem it can act on.
            log.warning("database full: %s", first_line(error))
            return problem_response(InsufficientStorage(
                "the database's disk is full: delete datasets you no longer need, or ask the operator for more space"))
        if not database_unavailable(error):  # A missing table, bad SQL: a bug, as any other.
            return _unexpected(error)
        # The database went away, or is busy: not the request's fault, and not a bug either. The
        # driver's own message only: the statement and its parameters stay out of the log.
        log.warning("database unavailable: %s", first_line(error))
        return problem_response(database_unavailable_problem())

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # Bad input never lands here: it raises ApiError. Anything else is a bug in Axon.
        log.exception("unhandled error")
        return problem_response(ApiError("an unexpected error occurred; it has been logged"))


def first_line(error: DBAPIError) -> str:
    """The driver's own first line: the statement and its parameters stay out of the log."""
    message = str(error.orig).strip() if error.orig is not None else ""
    return message.splitlines()[0] if message else type(error).__name__


def database_unavailable_problem() -> NotReady:
    return NotReady("the database is unavailable; retry shortly", [{"component": "database", "detail": "unavailable"}],
                    headers={"Retry-After": str(DATABASE_RETRY_SECONDS)})


def database_full(error: OperationalError | InterfaceError) -> bool:
    """True when ``error`` says the database has no room left for a write."""
    if getattr(error.orig, "sqlstate", None) == FULL_SQLSTATE:
        return True
    return isinstance(error.orig, sqlite3.Error) and FULL_SQLITE_MESSAGE in str(error.orig)


def database_unavailable(error: OperationalError | InterfaceError) -> bool:
    """True when ``error`` says the database cannot be reached or is too busy, not that a statement is wrong.

    PostgreSQL gives every error it sends an SQLSTATE; a driver error without one means no server
    answered. SQLite names its few availability errors in the message.
    """
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate.startswith(UNAVAILABLE_SQLSTATE_PREFIXES)
    if isinstance(error.orig, sqlite3.Error):
        return any(message in str(error.orig) for message in UNAVAILABLE_SQLITE_MESSAGES)
    return True


def problem_docs(*statuses: int) -> dict[int, dict]:
    """OpenAPI responses for the given error statuses, each a problem+json :class:`Problem`."""
    return {
        status: {
            "description": PROBLEM_DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


PROBLEM_DESCRIPTIONS = {
    400: "Malformed JSON (including the non-standard NaN and Infinity literals).",
    401: "No API key, or an unknown or revoked one (`Authorization: Bearer <key>`).",
    404: "No resource with that id (or one another tenant owns).",
    409: "The resource's state does not allow this.",
    413: "The request body is larger than max_body_bytes.",
    415: "Unsupported Content-Type, or a Content-Encoding other than identity (send bodies uncompressed).",
    429: "Over the API key's rate limit or the tenant's concurrent-job cap; `Retry-After` says when to retry.",
    422: "Invalid values; `errors` names each one (JSON pointer into the body, or query parameter).",
    500: "A bug in Axon (logged); never caused by bad input.",
    507: "The database's disk is full (or nearly: new datasets and jobs are refused while deletes still work).",
    503: "A dependency (database or broker) is unreachable (`errors` names which), or the server is busy "
         "(`Retry-After` says when to retry).",
}
