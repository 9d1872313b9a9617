"""The API document (``/openapi.json``): what flask-openapi3 generates from the models, finished
with what the models cannot say.

- The limits the running settings enforce (``AXON_MAX_UNITS``, rows, epochs, ...), as
  ``maximum``/``maxItems``/``maxLength``: the models are built once per process, the settings per app.
- The tag of each discriminated union (the optimizer's and the schedule's ``name``) as required:
  the server picks the member by it, so an object without it is refused.
- The response headers: ``X-Request-ID`` on every answer the app gives, ``Location`` on what a
  POST creates, ``Retry-After`` on 429 (and on a 503 when there is a wait to say),
  ``WWW-Authenticate`` on 401.
- Links (OpenAPI 3 ``links``) from what an answer names to the operations that take it (a created
  job's id to its status, metrics, events and cancel; a metrics page's ``next_after`` to the next
  page), so a generated client or a docs page can follow them without reading prose.

flask-openapi3 builds the document once per app, on first use; :class:`AxonOpenAPI` finishes
that dict, which is the app's own copy, so apps with other settings never share one.
"""

from __future__ import annotations

from typing import Any, Iterator

from flask_openapi3 import OpenAPI

from .app_state import app_state
from .settings import Settings

# waitress's max_request_header_size, which service.commands.http_server leaves at its default: a request line
# and headers longer than this together are refused by the server itself, before the app.
MAX_REQUEST_HEAD_BYTES = 262_144

# Operations whose success answer names what it created in Location.
CREATES = {("/v1/datasets", "post", "201"), ("/v1/jobs", "post", "202"), ("/v1/jobs/from-playground", "post", "202"),
           ("/v1/sweeps", "post", "202")}

REQUEST_ID_HEADER = {"X-Request-ID": {
    "description": "The request's id, as in the server's log lines: the request's own X-Request-ID when it "
                   "is 1 to 128 visible ASCII characters, else a new one.",
    "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 128}}}
HEADERS_BY_STATUS = {
    "401": {"WWW-Authenticate": {"description": "The Bearer challenge (RFC 6750), with `error` when a key was "
                                 "given and refused.", "required": True, "schema": {"type": "string"}}},
    "429": {"Retry-After": {"description": "Seconds to wait before retrying.", "required": True,
                            "schema": {"type": "integer", "minimum": 1}}},
    "503": {"Retry-After": {"description": "Seconds to wait before retrying, when the server can tell "
                            "(a busy server, a database that went away).", "required": False,
                            "schema": {"type": "integer", "minimum": 1}}},
}
# An epoch, or empty; nine digits are far beyond any epoch a job can reach (MAX_EPOCH has ten).
LAST_EVENT_ID_PATTERN = r"^[0-9]{0,9}$"
# Parameters read from the request directly rather than through a model, by operation.
HEADER_PARAMETERS = {("/v1/jobs/{job_id}/events", "get"): [{
    "name": "Last-Event-ID", "in": "header", "required": False,
    "description": "The id of the last event received (an epoch): the stream resumes after it. Sent by an "
                   "EventSource when it reconnects; it wins over `after`. Empty means from the start.",
    "schema": {"type": "string", "pattern": LAST_EVENT_ID_PATTERN}}],
    ("/v1/sweeps/{sweep_id}/events", "get"): [{
        "name": "Last-Event-ID", "in": "header", "required": False,
        "description": "The id of the last `epoch` event received: the stream resumes after it. Wins over `after`.",
        "schema": {"type": "string", "pattern": r"^[0-9]{0,18}$"}}]}
# (path, method, status) -> {link name: (target path, target method, {parameter: runtime expression})}.
# Targets are named by path and method; their operationId is looked up, so renaming one breaks nothing.
_JOB_ID = {"job_id": "$response.body#/id"}
_JOB_LINKS = {"GetJob": ("/v1/jobs/{job_id}", "get", _JOB_ID),
              "ListMetrics": ("/v1/jobs/{job_id}/metrics", "get", _JOB_ID),
              "StreamEvents": ("/v1/jobs/{job_id}/events", "get", _JOB_ID),
              "CancelJob": ("/v1/jobs/{job_id}/cancel", "post", _JOB_ID)}
LINKS = {
    ("/v1/datasets", "post", "201"): {"GetDataset": ("/v1/datasets/{dataset_id}", "get",
                                                     {"dataset_id": "$response.body#/id"})},
    ("/v1/jobs", "post", "202"): _JOB_LINKS,
    ("/v1/jobs/from-playground", "post", "202"): _JOB_LINKS,
    ("/v1/jobs/{job_id}", "get", "200"): {
        "GetModel": ("/v1/models/{model_id}", "get", {"model_id": "$response.body#/model_id"}),
        "PredictWithModel": ("/v1/models/{model_id}/predict", "post", {"model_id": "$response.body#/model_id"})},
    ("/v1/jobs/{job_id}/metrics", "get", "200"): {
        "NextPage": ("/v1/jobs/{job_id}/metrics", "get",
                     {"job_id": "$request.path.job_id", "after": "$response.body#/next_after"})},
    ("/v1/datasets", "get", "200"): {"NextPage": ("/v1/datasets", "get", {"cursor": "$response.body#/next_cursor"})},
    ("/v1/sweeps", "post", "202"): {
        "GetSweep": ("/v1/sweeps/{sweep_id}", "get", {"sweep_id": "$response.body#/id"}),
        "StreamSweepEvents": ("/v1/sweeps/{sweep_id}/events", "get", {"sweep_id": "$response.body#/id"}),
        "CancelSweep": ("/v1/sweeps/{sweep_id}/cancel", "post", {"sweep_id": "$response.body#/id"})},
    ("/v1/jobs", "get", "200"): {"NextPage": ("/v1/jobs", "get", {"cursor": "$response.body#/next_cursor",
                                                                  "status": "$request.query.status"})},
}
LOCATION_HEADER = {"Location": {"description": "Path of the resource created.", "required": True,
                                "schema": {"type": "string"}}}


class AxonOpenAPI(OpenAPI):
    """flask-openapi3's app, whose document is finished with :func:`finish_document`."""

    def generate_spec_json(self) -> None:
        super().generate_spec_json()
        finish_document(self.spec_json, app_state(self).settings)


def finish_document(document: dict, settings: Settings) -> None:
    """Add to ``document`` (in place) the running limits, required union tags and response headers."""
    document["info"]["description"] = describe_limits(document["info"].get("description", ""), settings)
    schemas = document["components"]["schemas"]
    for schema_name, path, keyword, limit in enforced_limits(settings):
        if schema_name not in schemas:  # A model no route of this app uses.
            continue
        node = _at(schemas[schema_name], path)
        # A limit of the model's own (a generator's n_samples) may be tighter than the setting.
        node[keyword] = min(limit, node.get(keyword, limit))
    for schema in schemas.values():
        _require_tags(schema, schemas)
    for (path, method), parameters in HEADER_PARAMETERS.items():
        document["paths"][path][method].setdefault("parameters", []).extend(parameters)
    for path, method, status, response in _responses(document):
        headers = dict(REQUEST_ID_HEADER)
        headers.update(HEADERS_BY_STATUS.get(status, {}))
        if (path, method, status) in CREATES:
            headers.update(LOCATION_HEADER)
        response["headers"] = {**headers, **response.get("headers", {})}
        links = LINKS.get((path, method, status))
        if links:
            response["links"] = {name: _link(document, *target) for name, target in links.items()}


def _link(document: dict, path: str, method: str, parameters: dict[str, str]) -> dict:
    """An OpenAPI link to the operation at ``path``/``method``, by its operationId."""
    return {"operationId": document["paths"][path][method]["operationId"], "parameters": parameters}


def describe_limits(description: str, settings: Settings) -> str:
    """``description`` followed by the limits every operation shares, which no schema holds."""
    return (f"{description}\n\nEvery error is an RFC 9457 `application/problem+json` problem. Limits every "
            f"operation shares: a request line and headers of at most {MAX_REQUEST_HEAD_BYTES} bytes together "
            "(a 431 problem from the HTTP server itself, without `X-Request-ID`; there is no 414: a long path "
            f"reaches the API), and a body of at most {settings.max_body_bytes} bytes (413). Limits on fields "
            "are in the schemas; rules across fields (or against stored data) are in each operation's description.")


def enforced_limits(settings: Settings) -> list[tuple[str, tuple[str, ...], str, int]]:
    """(schema, path within it, JSON Schema keyword, value) for each limit the server enforces on a field."""
    limits = settings.limits
    return [
        ("LayerSpec", ("properties", "units"), "maximum", limits.max_units),
        ("NetworkSpec", ("properties", "layers"), "maxItems", limits.max_layers),
        ("NetworkSpec", ("properties", "epochs"), "maximum", limits.max_epochs),
        ("NetworkSpec", ("properties", "batch_size"), "maximum", limits.max_batch_size),
        ("DatasetFromArrays", ("properties", "features"), "maxItems", settings.max_rows),
        ("DatasetFromArrays", ("properties", "features", "items"), "maxItems", settings.max_features),
        ("DatasetFromArrays", ("properties", "targets"), "maxItems", settings.max_rows),
        ("DatasetFromArrays", ("properties", "targets", "items", "anyOf", 2), "maxLength", settings.max_label_length),
        ("GeneratorSpec", ("properties", "n_samples"), "maximum", settings.max_rows),
        ("PredictRequest", ("properties", "inputs"), "maxItems", settings.max_predict_rows),
        ("EvaluateRows", ("properties", "inputs"), "maxItems", settings.max_predict_rows),
    ]


def _at(node: Any, path: tuple) -> dict:
    for step in path:
        node = node[step]
    return node


def _require_tags(schema: dict, schemas: dict) -> None:
    """Each member of a discriminated union in ``schema`` requires the discriminator's property."""
    for node in _nodes(schema):
        discriminator = node.get("discriminator") if isinstance(node, dict) else None
        if not discriminator:
            continue
        tag = discriminator["propertyName"]
        for reference in discriminator.get("mapping", {}).values():
            member = schemas[reference.rsplit("/", 1)[-1]]
            if tag not in member.setdefault("required", []):
                member["required"].insert(0, tag)


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _nodes(child)


def _responses(document: dict) -> Iterator[tuple[str, str, str, dict]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items():
                yield path, method, str(status), response
