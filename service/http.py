"""Request bodies in, JSON out: the same content negotiation and parsing in every blueprint.

flask-openapi3 would parse a typed ``body`` with ``request.get_json(silent=True)``, which turns
malformed JSON and a wrong Content-Type into a 422 about a missing body. Views read bodies here
instead, so those are 400 and 415, and the request body is still documented through
:func:`body_docs`.
"""

from __future__ import annotations

import io
import json
from typing import Any, TypeVar

from flask import Flask, Response, request
from flask_openapi3 import APIBlueprint
from flask_openapi3.models import Schema
from flask_openapi3.utils import get_model_schema
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from .app_state import app_state
from .integers import integral_floats_as_ints
from .errors import MalformedBody, UnsupportedContentEncoding, UnsupportedMediaType, invalid_body
from .settings import Settings

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"  # Registered with IANA in 2024.
MULTIPART = "multipart/form-data"

ModelT = TypeVar("ModelT", bound=BaseModel)
# Content codings a body may come in; anything else is a 415 before the body is read.
ACCEPTED_CONTENT_ENCODINGS = ("", "identity")


def current_settings() -> Settings:
    """The settings the current app was built with."""
    return app_state().settings


def negotiate(*accepted: str) -> str:
    """The request's media type when it is one of ``accepted`` (``+json`` counts as JSON), else 415."""
    given = request.mimetype
    for media_type in accepted:
        if given == media_type or (media_type == JSON and given.startswith("application/") and given.endswith("+json")):
            return media_type
    raise UnsupportedMediaType(request.content_type or "", accepted)


def init_bodies(app: Flask) -> None:
    """Refuse, before any view reads it, a body in a content coding Axon does not decode (415) and
    a body without a Content-Length that runs past ``max_body_bytes`` (413)."""
    app.before_request(_check_body)


def _check_body() -> None:
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ACCEPTED_CONTENT_ENCODINGS:
        raise UnsupportedContentEncoding(encoding)
    environ = request.environ
    # With a Content-Length, Werkzeug answers 413 above MAX_CONTENT_LENGTH itself. Without one (a
    # chunked body the server de-chunks as it reads), it would stop reading at the limit and hand
    # the view the body cut short: read one byte past the limit here instead, and refuse.
    if request.content_length is not None or not environ.get("wsgi.input_terminated"):
        return
    limit = current_settings().max_body_bytes
    body = environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        raise RequestEntityTooLarge()
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def read_json() -> Any:
    """The body as strict JSON (RFC 8259: NaN and Infinity are refused); 400 when malformed."""
    raw = request.get_data(cache=True)  # Werkzeug answers 413 here above MAX_CONTENT_LENGTH.
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedBody(f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise MalformedBody("the body is not valid JSON: nested too deeply") from None


def validate_json(model: type[ModelT], document: Any, context: dict | None = None) -> ModelT:
    """``document`` (the request body as :func:`read_json` parsed it, or rows read from CSV) as
    ``model``, or a 422 naming each invalid part by JSON pointer.

    Strict, in pydantic's JSON mode: JSON has types, so ``true`` or ``"5"`` is not an integer, as
    the document says, while a JSON array still fills a tuple field (Python-mode strictness
    would refuse it). ``5.0`` is an integer, as JSON Schema has it (:mod:`service.integers`).
    """
    # The JSON body itself when there is one; a document built from another format (CSV rows), or
    # one whose integral floats became ints, goes through JSON text too, so all meet the same rules.
    document, changed = integral_floats_as_ints(model, document)
    text = request.get_data(cache=True) if request.mimetype == JSON and not changed else json.dumps(document)
    try:
        return model.model_validate_json(text, strict=True, context=context)
    except ValidationError as error:
        # Text Python's parser took and pydantic's refuses (a lone UTF-16 surrogate escape) is
        # malformed JSON all the same: a 400 like any other, not a 422 about a field.
        invalid_json = [item for item in error.errors(include_url=False) if item["type"] == "json_invalid"]
        if invalid_json:
            raise MalformedBody(f"the body is not valid JSON: {invalid_json[0]['msg']}") from None
        raise invalid_body(error, document) from None


def json_body(model: type[ModelT], context: dict | None = None) -> ModelT:
    """The JSON request body parsed into ``model`` (415, 400 or 422 when it cannot be)."""
    negotiate(JSON)
    return validate_json(model, read_json(), context)


def json_response(model: BaseModel, status: int = 200, headers: dict | None = None,
                  exclude_none: bool = False) -> Response:
    """``model`` as JSON; pydantic writes NaN and infinities as null, so the JSON stays valid."""
    return Response(model.model_dump_json(exclude_none=exclude_none), status, headers, mimetype=JSON)


def body_docs(blueprint: APIBlueprint, content: dict[str, type[BaseModel] | list[type[BaseModel]] | dict],
              example: Any) -> dict:
    """An OpenAPI ``requestBody`` for views that read their body through this module.

    ``content`` maps each accepted media type to a model, a list of models (any one of them), or
    a raw JSON schema. The models' schemas are added to the blueprint's components. ``example`` is
    a JSON body to show (in /docs) and to send (Schemathesis's examples phase).
    """
    documented = {}
    for media_type, schema in content.items():
        if isinstance(schema, dict):
            documented[media_type] = {"schema": schema}
            continue
        models = schema if isinstance(schema, list) else [schema]
        references = [{"$ref": f"#/components/schemas/{_register(blueprint, model)}"} for model in models]
        documented[media_type] = {"schema": references[0] if len(references) == 1 else {"oneOf": references}}
    documented[JSON]["example"] = example
    return {"requestBody": {"required": True, "content": documented}}


def _register(blueprint: APIBlueprint, model: type[BaseModel]) -> str:
    schema = get_model_schema(model)
    for name, definition in schema.pop("$defs", {}).items():
        blueprint.components_schemas[name] = Schema(**definition)
    blueprint.components_schemas[model.__name__] = Schema(**schema)
    return model.__name__
