"""Every error is problem+json with the right status, and bad input is never a 500."""

from __future__ import annotations

import gzip
import io
import json

import pytest
from pydantic import ValidationError

from mlp import NetworkSpec
from service.errors import invalid_body, json_pointer

from tests.support.calls import spiral_dataset
from tests.support.specs import SMALL_SPEC

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert PROBLEM_KEYS <= set(body) and body["status"] == status
    return body


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/datasets", "/v1/models/any/predict"])
# The last: a lone UTF-16 surrogate escape, which Python's parser takes and pydantic's refuses.
@pytest.mark.parametrize("raw", ["{", '{"inputs": [1,]}', "", '{"a": NaN}', "[" * 100_000, '{"name": "\\ud800"}'])
def test_malformed_json_is_400(client, path, raw):
    assert_problem(client.post(path, data=raw, content_type="application/json"), 400)


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/datasets", "/v1/models/any/predict"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(client, path, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = assert_problem(client.post(path, data=b'{"dataset_id": "x"}', headers=headers), 415)
    assert "application/json" in body["detail"]


def test_json_with_a_suffix_media_type_is_json(client):
    dataset = spiral_dataset(client)
    response = client.post("/v1/jobs", data=f'{{"dataset_id": "{dataset["id"]}", "spec": {{"layers": []}}}}',
                           content_type="application/vnd.axon+json; charset=utf-8")
    assert response.status_code == 202


def test_body_over_the_limit_is_413(make_app):
    client = make_app(max_body_bytes=100).test_client()
    big = {"features": [[float(index)] for index in range(50)], "targets": list(range(50))}
    assert_problem(client.post("/v1/datasets", json=big), 413)
    assert_problem(client.post("/v1/jobs", json={"dataset_id": "x" * 200, "spec": {}}), 413)
    # Under the limit the same route still works.
    assert client.post("/v1/jobs", json={"dataset_id": "x", "spec": {}}).status_code == 422


def chunked(client, body: bytes):
    """POST ``body`` to /v1/datasets as a server hands a de-chunked body to the app: no
    Content-Length, ``wsgi.input_terminated`` set (gunicorn does so)."""
    return client.post("/v1/datasets", input_stream=io.BytesIO(body), content_type="application/json",
                       headers={"Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_stored(make_app):
    client = make_app(max_body_bytes=200).test_client()
    document = json.dumps({"generator": {"kind": "spiral", "n_samples": 50}}).encode()
    # Valid JSON all through: cut at the limit it would still parse, and be stored.
    assert_problem(chunked(client, document + b" " * 300), 413)
    assert client.get("/v1/datasets").get_json()["items"] == []
    # Within the limit the same framing is read whole.
    created = chunked(client, document)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["n_samples"] == 50


@pytest.mark.parametrize("encoding", ["gzip", "br", "x-made-up"])
def test_a_compressed_body_is_415_naming_the_encoding(client, encoding):
    body = gzip.compress(b'{"generator": {"kind": "spiral", "n_samples": 50}}')
    response = client.post("/v1/datasets", data=body, content_type="application/json",
                           headers={"Content-Encoding": encoding})
    problem = assert_problem(response, 415)
    assert f"Content-Encoding '{encoding}'" in problem["detail"]
    assert response.headers["Accept-Encoding"] == "identity"
    assert client.get("/v1/datasets").get_json()["items"] == []


def test_an_echoed_value_is_cut_short(client):
    """A huge unknown id comes back as its first characters and its length, not whole."""
    huge = "x" * 1_000_000
    response = client.post("/v1/jobs", json={"dataset_id": huge, "spec": {"layers": []}})
    problem = assert_problem(response, 422)
    assert len(response.get_data()) < 2_000
    assert problem["errors"][0]["pointer"] == "/dataset_id"
    assert "(1000000 characters)" in problem["errors"][0]["detail"]
    response = client.get(f"/v1/jobs/{'y' * 100_000}")
    assert_problem(response, 404)
    assert len(response.get_data()) < 2_000


def test_every_string_of_a_problem_is_bounded(app):
    from service.errors import MAX_PROBLEM_STRING_CHARACTERS, InvalidRequest, problem_response

    with app.app_context():
        response = problem_response(InvalidRequest([{"field": "f" * 10**6, "detail": "d" * 10**6}], "e" * 10**6))
    body = response.get_json()
    assert len(response.get_data()) < 4 * MAX_PROBLEM_STRING_CHARACTERS + 500
    assert body["detail"].startswith("e" * 100) and body["detail"].endswith("(1000000 characters)")


def test_unknown_route_is_404_and_wrong_method_is_405(client):
    assert_problem(client.get("/v1/nothing"), 404)
    response = client.put("/v1/jobs")
    assert_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_a_bug_is_a_500_problem_without_internals(app, caplog):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    body = assert_problem(app.test_client().get("/boom"), 500)
    assert "secret" not in body["detail"]
    assert "secret internals" in caplog.text  # Logged for whoever fixes it.


@pytest.mark.parametrize("body", [
    None, 1, "spec", [], {"dataset_id": 5, "spec": []}, {"dataset_id": "x", "spec": {"layers": "many"}},
    {"dataset_id": "x", "spec": {"layers": [{"units": 10**30}]}},
    {"dataset_id": "x", "spec": {"layers": [], "optimizer": 7}},
    {"dataset_id": "x", "spec": {"layers": [], "optimizer": {"name": ["adam"]}}},
    {"dataset_id": "x", "spec": {"layers": [], "seed": -1, "early_stopping": {"monitor": "val_loss"}, "validation_split": 0}},
])
def test_odd_job_bodies_are_422_never_500(client, body):
    response = client.post("/v1/jobs", data=json.dumps(body), content_type="application/json")
    errors = assert_problem(response, 422)["errors"]
    assert errors and all(error["pointer"] == "" or error["pointer"].startswith("/") for error in errors)


@pytest.mark.parametrize("body", [
    {"features": [[1]] * 2, "targets": [10**30, 1]},
    {"features": [[1]] * 2, "targets": [{"a": 1}, 1]},
    {"features": [[[1]]] * 2, "targets": [0, 1]},
    {"features": "rows", "targets": [0, 1]},
    {"generator": "spiral"},
    {"generator": {"kind": "circle", "n_samples": 2, "noise": 0}, "name": ""},
])
def test_odd_dataset_bodies_are_422_never_500(client, body):
    assert assert_problem(client.post("/v1/datasets", json=body), 422)["errors"]


@pytest.mark.parametrize("data", [
    {"file": "not, a csv", "target": "y"},
    {"file": (io.BytesIO(b"\xff\xfe"), "x.csv"), "target": "y"},
    {"file": (io.BytesIO(b"a,y\n1,0\n"), "x.csv"), "target": "y", "task": "clustering"},
])
def test_odd_uploads_are_422_never_500(client, data):
    assert_problem(client.post("/v1/datasets", data=data, content_type="multipart/form-data"), 422)


def spec_error(payload) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        NetworkSpec.model_validate(payload)
    return caught.value


def test_pointers_drop_union_tags_and_validator_prefixes():
    payload = {**SMALL_SPEC, "optimizer": {"name": "adam", "learning_rate": 0}, "epochs": 0}
    problem = invalid_body(spec_error(payload), payload, prefix="/spec")
    assert [error["pointer"] for error in problem.errors] == ["/spec/epochs", "/spec/optimizer/learning_rate"]
    limited = {**SMALL_SPEC, "layers": [{"units": 10**6}]}
    assert not invalid_body(spec_error(limited), limited).errors[0]["detail"].startswith("Value error")


def test_pointer_escapes_and_missing_keys():
    assert json_pointer(("a/b", "c~d"), {"a/b": {"c~d": 1}}) == "/a~1b/c~0d"
    assert json_pointer(("layers", 0, "units"), {"layers": [{}]}) == "/layers/0/units"
    assert json_pointer(("targets", 1, "str"), {"targets": [1, None]}) == "/targets/1"
    assert json_pointer((), [1]) == ""
