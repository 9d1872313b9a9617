"""/openapi.json tells the truth: the running limits, JSON Schema's integers, required union tags,
response headers and page parameters, each checked against what the server does."""

from __future__ import annotations

import pytest

from tests.support.calls import spiral_dataset
from tests.support.rows import insert_job, insert_model
from tests.support.specs import SMALL_SPEC

# Small limits, so a request at each and one past it are cheap.
LIMITS = {"limits": {"max_units": 7, "max_layers": 3, "max_epochs": 50, "max_batch_size": 40}, "max_rows": 40,
          "max_features": 4, "max_predict_rows": 5, "max_label_length": 6}


@pytest.fixture
def small_app(make_app):
    return make_app(**LIMITS)


def schemas_of(app) -> dict:
    return app.test_client().get("/openapi.json").get_json()["components"]["schemas"]


def test_the_document_shows_the_limits_of_the_app_it_comes_from(make_app, small_app):
    small, default = schemas_of(small_app), schemas_of(make_app())
    assert small["LayerSpec"]["properties"]["units"]["maximum"] == 7
    assert default["LayerSpec"]["properties"]["units"]["maximum"] == 4096
    network = small["NetworkSpec"]["properties"]
    assert (network["layers"]["maxItems"], network["epochs"]["maximum"], network["batch_size"]["maximum"]) \
        == (3, 50, 40)
    assert default["NetworkSpec"]["properties"]["batch_size"]["maximum"] == 65536
    arrays = small["DatasetFromArrays"]["properties"]
    assert arrays["features"]["maxItems"] == arrays["targets"]["maxItems"] == 40
    assert arrays["features"]["items"]["maxItems"] == 4
    assert arrays["targets"]["items"]["anyOf"][2] == {"type": "string", "maxLength": 6}
    # The generator's own bound (100,000) is the tighter one by default, the setting here.
    assert small["GeneratorSpec"]["properties"]["n_samples"]["maximum"] == 40
    assert default["GeneratorSpec"]["properties"]["n_samples"]["maximum"] == 100_000
    assert small["PredictRequest"]["properties"]["inputs"]["maxItems"] == 5


def refusal(response) -> set[str]:
    """The pointers a 422 names (empty for any other answer)."""
    if response.status_code != 422:
        return set()
    return {error["pointer"] for error in response.get_json()["errors"]}


def dry_run(client, dataset_id: str, **spec) -> object:
    base = {**SMALL_SPEC, "layers": [{"units": 2}]}  # Within the small limits too.
    return client.post("/v1/jobs", json={"dataset_id": dataset_id, "spec": {**base, **spec}, "dry_run": True})


def test_a_spec_at_each_documented_limit_passes_and_one_past_it_is_refused(small_app):
    client = small_app.test_client()
    network = schemas_of(small_app)["NetworkSpec"]["properties"]
    dataset_id = spiral_dataset(client, n_samples=40)["id"]
    units = schemas_of(small_app)["LayerSpec"]["properties"]["units"]["maximum"]
    cases = [
        ({"layers": [{"units": units}]}, {"layers": [{"units": units + 1}]}, "/spec/layers/0/units"),
        ({"layers": [{"units": 2}] * network["layers"]["maxItems"]},
         {"layers": [{"units": 2}] * (network["layers"]["maxItems"] + 1)}, "/spec/layers"),
        ({"epochs": network["epochs"]["maximum"]}, {"epochs": network["epochs"]["maximum"] + 1}, "/spec/epochs"),
        ({"batch_size": network["batch_size"]["maximum"]}, {"batch_size": network["batch_size"]["maximum"] + 1},
         "/spec/batch_size"),
    ]
    for at_limit, past_limit, pointer in cases:
        accepted = dry_run(client, dataset_id, **at_limit)
        assert accepted.status_code == 200, (at_limit, accepted.get_json())
        assert pointer in refusal(dry_run(client, dataset_id, **past_limit)), past_limit


def test_datasets_and_predicts_at_each_documented_limit_pass_and_one_past_it_are_refused(small_app, classifier):
    client = small_app.test_client()
    arrays = schemas_of(small_app)["DatasetFromArrays"]["properties"]
    rows, width = arrays["features"]["maxItems"], arrays["features"]["items"]["maxItems"]
    label = arrays["targets"]["items"]["anyOf"][2]["maxLength"]

    def arrays_body(n_rows: int, n_features: int, label_length: int) -> dict:
        return {"features": [[float(row)] * n_features for row in range(n_rows)],
                "targets": [("a" * label_length) if row % 2 else "b" for row in range(n_rows)]}

    assert client.post("/v1/datasets", json=arrays_body(rows, width, label)).status_code == 201
    assert "/features" in refusal(client.post("/v1/datasets", json=arrays_body(rows + 1, width, label)))
    assert "/features/0" in refusal(client.post("/v1/datasets", json=arrays_body(rows, width + 1, label)))
    assert "/targets/1" in refusal(client.post("/v1/datasets", json=arrays_body(rows, width, label + 1)))
    n_samples = schemas_of(small_app)["GeneratorSpec"]["properties"]["n_samples"]["maximum"]
    generator = {"kind": "spiral", "n_samples": n_samples}
    assert client.post("/v1/datasets", json={"generator": generator}).status_code == 201
    assert "/generator/n_samples" in refusal(client.post("/v1/datasets", json={"generator": {
        **generator, "n_samples": n_samples + 1}}))

    model = insert_model(small_app, classifier)
    predict_rows = schemas_of(small_app)["PredictRequest"]["properties"]["inputs"]["maxItems"]
    row = [0.0] * model.n_features
    assert client.post(f"/v1/models/{model.id}/predict", json={"inputs": [row] * predict_rows}).status_code == 200
    assert "/inputs" in refusal(client.post(f"/v1/models/{model.id}/predict", json={"inputs": [row] * (predict_rows + 1)}))


def test_integral_numbers_are_integers_as_json_schema_has_it(client):
    dataset_id = spiral_dataset(client)["id"]
    spec = {**SMALL_SPEC, "epochs": 3.0, "batch_size": 16.0, "layers": [{"units": 4.0}],
            "schedule": {"name": "cosine", "t_max": 2.0, "warmup_epochs": 1.0}}
    response = client.post("/v1/jobs", json={"dataset_id": dataset_id, "spec": spec})
    assert response.status_code == 202, response.get_json()
    stored = response.get_json()["spec"]
    assert (stored["epochs"], stored["batch_size"], stored["layers"][0]["units"], stored["schedule"]["t_max"]) \
        == (3, 16, 4, 2)
    assert all(isinstance(value, int) for value in (stored["epochs"], stored["schedule"]["warmup_epochs"]))
    # Still strict about what is not an integer at all.
    for epochs in (3.5, "3", True):
        assert refusal(dry_run(client, dataset_id, epochs=epochs)) == {"/spec/epochs"}, epochs
    generated = client.post("/v1/datasets", json={"generator": {"kind": "spiral", "n_samples": 30.0, "seed": 2.0}})
    assert generated.status_code == 201 and generated.get_json()["n_samples"] == 30


def test_a_targets_fraction_still_decides_the_task(client):
    # A target may be a label (integer) or a value (number), so 1.0 stays a value: regression.
    body = {"features": [[0.0], [1.0], [2.0], [3.0]], "targets": [1.0, 2.0, 1.0, 2.0]}
    assert client.post("/v1/datasets", json=body).get_json()["task"] == "regression"
    labels = {**body, "targets": [1, 2, 1, 2]}
    assert client.post("/v1/datasets", json=labels).get_json()["task"] == "classification"


def test_the_union_tags_are_required_in_the_document_as_by_the_server(app, client):
    schemas = schemas_of(app)
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "ConstantSchedule", "CosineSchedule", "PlateauSchedule"):
        assert "name" in schemas[name]["required"], name
    dataset_id = spiral_dataset(client)["id"]
    assert refusal(dry_run(client, dataset_id, optimizer={"learning_rate": 0.1})) == {"/spec/optimizer"}
    assert refusal(dry_run(client, dataset_id, schedule={})) == {"/spec/schedule"}


def test_response_headers_are_documented(app):
    paths = app.test_client().get("/openapi.json").get_json()["paths"]
    created = paths["/v1/datasets"]["post"]["responses"]["201"]["headers"]
    assert created["Location"]["required"] and created["X-Request-ID"]["required"]
    assert paths["/v1/jobs"]["post"]["responses"]["202"]["headers"]["Location"]["required"]
    # Cancel answers 202 without creating anything.
    assert "Location" not in paths["/v1/jobs/{job_id}/cancel"]["post"]["responses"]["202"]["headers"]
    assert paths["/v1/jobs"]["get"]["responses"]["401"]["headers"]["WWW-Authenticate"]["required"]
    assert paths["/v1/jobs"]["get"]["responses"]["429"]["headers"]["Retry-After"]["required"]
    assert "Retry-After" in paths["/v1/jobs/{job_id}/events"]["get"]["responses"]["503"]["headers"]
    events = {parameter["name"]: parameter for parameter in paths["/v1/jobs/{job_id}/events"]["get"]["parameters"]}
    assert events["Last-Event-ID"]["in"] == "header"


def test_metrics_pages_follow_by_next_after_as_by_next(make_app):
    from service.tables import EpochMetric
    from tests.support.rows import add_rows

    app = make_app(page_size=2)
    client = app.test_client()
    job = insert_job(app, None, "succeeded", epoch=5)
    add_rows(app, *(EpochMetric(job_id=job.id, epoch=epoch, record={"epoch": epoch}) for epoch in range(1, 6)))
    by_after, after, pages = [], None, 0
    while True:
        page = client.get(f"/v1/jobs/{job.id}/metrics", query_string={} if after is None else {"after": after})
        page = page.get_json()
        by_after += [record["epoch"] for record in page["items"]]
        pages += 1
        after = page["next_after"]
        assert (page["next"] is None) == (after is None)
        if after is None:
            break
        assert page["next"] == f"/v1/jobs/{job.id}/metrics?after={after}"
    assert by_after == [1, 2, 3, 4, 5] and pages == 3


def test_list_pages_follow_by_next_cursor(make_app):
    app = make_app(page_size=2)
    client = app.test_client()
    made = {spiral_dataset(client, n_samples=20)["id"] for _ in range(3)}
    first = client.get("/v1/datasets").get_json()
    second = client.get("/v1/datasets", query_string={"cursor": first["next_cursor"]}).get_json()
    assert first["next"] == f"/v1/datasets?cursor={first['next_cursor']}"
    assert {item["id"] for item in first["items"] + second["items"]} == made
    assert second["next_cursor"] is None and second["next"] is None


def test_every_operation_with_inputs_has_an_example_and_the_body_examples_fit_their_schemas(app):
    import jsonschema_rs  # Schemathesis's own validator.

    document = app.test_client().get("/openapi.json").get_json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                schema = {**body["schema"], "components": document["components"]}
                jsonschema_rs.Draft202012Validator(schema).validate(body["example"])
            for parameter in operation.get("parameters", []):
                if parameter["required"]:
                    assert "example" in parameter, (method, path, parameter["name"])


def _operations_by_id(paths: dict) -> dict[str, tuple[str, str, dict]]:
    return {operation["operationId"]: (path, method, operation)
            for path, item in paths.items() for method, operation in item.items()}


def _follow(paths: dict, link: dict, request_path: dict, request_query: dict, body: dict) -> tuple[str, str, dict]:
    """The (method, path, query) a client gets by evaluating ``link``'s runtime expressions."""
    path, method, operation = _operations_by_id(paths)[link["operationId"]]
    where = {parameter["name"]: parameter["in"] for parameter in operation.get("parameters", [])}
    query = {}
    for name, expression in link["parameters"].items():
        source, _, key = expression.partition("#/") if "#/" in expression else expression.rpartition(".")
        value = {"$response.body": body, "$request.path": request_path,
                 "$request.query": request_query}[source.rstrip(".")].get(key)
        if where[name] == "path":
            path = path.replace("{" + name + "}", str(value))
        elif value is not None:
            query[name] = value
    return method, path, query


def test_every_link_names_an_operation_and_parameters_it_takes(app):
    paths = app.test_client().get("/openapi.json").get_json()["paths"]
    operations = _operations_by_id(paths)
    links = [link for item in paths.values() for operation in item.values()
             for response in operation["responses"].values() for link in response.get("links", {}).values()]
    assert len(links) >= 10
    for link in links:
        _, _, target = operations[link["operationId"]]
        assert set(link["parameters"]) <= {parameter["name"] for parameter in target.get("parameters", [])}, link


def test_links_lead_where_the_server_goes(make_app, classifier):
    """Following the documented links from real answers reaches the job, its pages and its model."""
    from service.tables import EpochMetric
    from tests.support.rows import add_rows

    app = make_app(page_size=2)
    client = app.test_client()
    paths = client.get("/openapi.json").get_json()["paths"]
    dataset = spiral_dataset(client, n_samples=20)
    created = paths["/v1/datasets"]["post"]["responses"]["201"]["links"]["GetDataset"]
    method, path, query = _follow(paths, created, {}, {}, dataset)
    assert (method, client.get(path, query_string=query).get_json()["id"]) == ("get", dataset["id"])

    job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": SMALL_SPEC})
    assert job.status_code == 202
    job_links = paths["/v1/jobs"]["post"]["responses"]["202"]["links"]
    method, path, query = _follow(paths, job_links["GetJob"], {}, {}, job.get_json())
    assert path == job.headers["Location"] and client.get(path).get_json()["id"] == job.get_json()["id"]

    model = insert_model(app, classifier)
    done_id = model.job_id
    add_rows(app, *(EpochMetric(job_id=done_id, epoch=epoch, record={"epoch": epoch}) for epoch in range(1, 6)))
    next_page = paths["/v1/jobs/{job_id}/metrics"]["get"]["responses"]["200"]["links"]["NextPage"]
    epochs, query = [], {}
    while True:
        page = client.get(f"/v1/jobs/{done_id}/metrics", query_string=query).get_json()
        epochs += [record["epoch"] for record in page["items"]]
        if page["next_after"] is None:
            break
        method, path, query = _follow(paths, next_page, {"job_id": done_id}, query, page)
        assert path == f"/v1/jobs/{done_id}/metrics"
    assert epochs == [1, 2, 3, 4, 5]

    answer = client.get(f"/v1/jobs/{done_id}").get_json()
    model_link = paths["/v1/jobs/{job_id}"]["get"]["responses"]["200"]["links"]["GetModel"]
    method, path, query = _follow(paths, model_link, {"job_id": done_id}, {}, answer)
    got = client.get(path)
    assert got.status_code == 200, (path, answer, got.get_json())
    assert got.get_json()["id"] == answer["model_id"] == model.id
