"""The HTTP API's routes: one module and one blueprint per resource.

Each module registers its own routes on its own blueprint, and ``create_app`` registers every
blueprint; the infrastructure they share (errors, bodies, auth, storage,
settings) stays flat in ``service/``. The routes under a job (events, boundary, network view,
playground link) are modules of their own that keep the ``jobs`` tag.
"""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag
from flask_openapi3.utils import get_operation_id_for_path

from ..auth import SECURITY
from ..errors import problem_docs


def resource_blueprint(name: str, import_name: str, url_prefix: str, tag: str | None = None) -> APIBlueprint:
    """The blueprint of a ``/v1`` resource's routes: behind an API key, documenting the problems
    every route can answer, under the OpenAPI tag ``tag`` (default ``name``).

    The tag is also the prefix of the operation ids (``jobs_stream_events__job_id__events_get``), so
    a route keeps its id, which generated clients name their methods by, whichever blueprint holds it.
    """
    tag = tag or name

    def operation_id(*, name: str, path: str, method: str) -> str:
        return get_operation_id_for_path(bp_name=tag, name=name, path=path, method=method)

    return APIBlueprint(name, import_name, url_prefix=url_prefix, abp_tags=[Tag(name=tag)],
                        abp_responses=problem_docs(401, 429, 500), abp_security=SECURITY,
                        operation_id_callback=operation_id)
