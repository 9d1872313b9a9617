"""/openapi.json documents every route and error, /docs serves Swagger UI offline, /healthz and /readyz."""

from __future__ import annotations

import pytest

ROUTES = {
    "/v1/datasets": {"get", "post"},
    "/v1/datasets/{dataset_id}": {"get", "delete"},
    "/v1/jobs": {"get", "post"},
    "/v1/jobs/{job_id}": {"get"},
    "/v1/jobs/{job_id}/metrics": {"get"},
    "/v1/jobs/{job_id}/cancel": {"post"},
    "/v1/jobs/{job_id}/events": {"get"},
    "/v1/jobs/{job_id}/boundary": {"get"},
    "/v1/jobs/{job_id}/network": {"get"},
    "/v1/jobs/{job_id}/playground": {"get"},
    "/v1/jobs/from-playground": {"post"},
    "/v1/jobs/{job_id}/predict": {"post"},
    "/v1/models/{model_id}": {"get"},
    "/v1/models/{model_id}/weights": {"get"},
    "/v1/models/{model_id}/onnx": {"get"},
    "/v1/models/{model_id}/predict": {"post"},
    "/v1/models/{model_id}/evaluate": {"post"},
    "/v1/sweeps": {"get", "post"},
    "/v1/sweeps/{sweep_id}": {"get"},
    "/v1/sweeps/{sweep_id}/cancel": {"post"},
    "/v1/sweeps/{sweep_id}/events": {"get"},
    "/healthz": {"get"},
    "/readyz": {"get"},
}


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def test_openapi_is_3_1_and_lists_every_route(document):
    assert document["openapi"].startswith("3.1")
    assert {path: set(item) for path, item in document["paths"].items()} == ROUTES


def test_components_hold_no_nulls(document):
    # OpenAPI 3.1 has no null component maps; Schemathesis refuses such a document.
    assert all(value is not None for value in document["components"].values())


def test_every_reference_resolves(document):
    schemas = document["components"]["schemas"]
    missing = {ref for ref in references(document) if ref.removeprefix("#/components/schemas/") not in schemas}
    assert missing == set()


def test_errors_are_documented_as_problem_json(document):
    operations = [(path, method, operation) for path, item in document["paths"].items()
                  for method, operation in item.items()]
    for path, method, operation in operations:
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == ["application/problem+json"], (path, method, status)
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])
    jobs_post = document["paths"]["/v1/jobs"]["post"]
    assert {"202", "400", "413", "415", "422"} <= set(jobs_post["responses"])
    assert "404" in document["paths"]["/v1/jobs/{job_id}/cancel"]["post"]["responses"]
    assert "409" in document["paths"]["/v1/jobs/{job_id}/cancel"]["post"]["responses"]


def test_request_bodies_come_from_the_models(document):
    jobs_body = document["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    job_create = document["components"]["schemas"][jobs_body["$ref"].rsplit("/", 1)[1]]
    assert set(job_create["properties"]) == {"dataset_id", "spec", "dry_run"}
    assert "NetworkSpec" in document["components"]["schemas"]
    datasets_body = document["paths"]["/v1/datasets"]["post"]["requestBody"]["content"]
    assert set(datasets_body) == {"application/json", "multipart/form-data", "text/csv",
                                  "application/vnd.apache.parquet"}
    assert len(datasets_body["application/json"]["schema"]["oneOf"]) == 2
    # A raw table body takes the multipart form's options as query parameters, target first.
    parameters = document["paths"]["/v1/datasets"]["post"]["parameters"]
    assert [(parameter["name"], parameter["in"]) for parameter in parameters] == [
        ("target", "query"), ("name", "query"), ("task", "query"), ("columns", "query")]
    predict_body = document["paths"]["/v1/models/{model_id}/predict"]["post"]["requestBody"]["content"]
    assert set(predict_body) == {"application/json", "text/csv"}


def test_docs_serve_swagger_ui_from_the_package(client):
    response = client.get("/docs", follow_redirects=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "swagger-ui" in page and "https://" not in page  # Offline: no CDN.
    assert client.get("/docs/swagger/js/swagger-ui-bundle.js").status_code == 200


def test_healthz(client):
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()["status"]) == (200, "ok")


def test_readyz_with_a_reachable_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_names_an_unreachable_broker(make_app):
    client = make_app(broker_url="redis://127.0.0.1:1/0").test_client()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert [error["component"] for error in response.get_json()["errors"]] == ["broker"]


def test_readyz_names_an_unreachable_database(make_app, tmp_path):
    client = make_app(database_url=f"sqlite:///{tmp_path}/missing/dir/axon.db").test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert [error["component"] for error in response.get_json()["errors"]] == ["database"]
