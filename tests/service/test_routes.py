"""Routes you can find: each module of service/api registers its routes on its own blueprint, and a
route's OpenAPI operation id and tag come from its resource, whichever module holds it."""

from __future__ import annotations

import importlib

API_MODULES = ("datasets", "jobs", "events", "boundary", "network_view", "playground", "models", "sweeps", "sweep_events",
               "health", "dashboard")


def test_every_route_of_an_api_module_is_on_that_modules_blueprint(app):
    modules = {name: importlib.import_module(f"service.api.{name}") for name in API_MODULES}
    seen = set()
    for rule in app.url_map.iter_rules():
        module_name = app.view_functions[rule.endpoint].__module__
        if not module_name.startswith("service.api."):
            continue
        module = modules[module_name.removeprefix("service.api.")]
        assert rule.endpoint.split(".")[0] == module.blueprint.name, (rule.rule, module_name)
        seen.add(module.__name__)
    assert seen == {module.__name__ for module in modules.values()}  # Each module serves at least one route.


def test_operation_ids_and_tags_follow_the_resource(app):
    paths = app.api_doc["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            [tag] = operation["tags"]
            assert operation["operationId"].startswith(f"{tag}_") and operation["operationId"].endswith(f"_{method}")
    # The routes under a job keep the jobs tag, and the ids clients were generated with.
    assert paths["/v1/jobs/{job_id}/events"]["get"]["operationId"] == "jobs_stream_events__job_id__events_get"
    assert paths["/v1/jobs/{job_id}/boundary"]["get"]["operationId"] == "jobs_get_boundary__job_id__boundary_get"
    assert paths["/v1/jobs/from-playground"]["post"]["tags"] == ["jobs"]
