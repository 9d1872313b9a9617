"""/v1/datasets: the three ways in, task inference, storage, limits, refusals, listing, deletion."""

from __future__ import annotations

import io

import numpy as np
import pytest

from service.app_state import app_state
from service.tables import Dataset, Job
from service.storage import decode_arrays

from tests.support.calls import create_dataset, spiral_dataset, submit_job
from tests.support.rows import insert_job

FEATURES = [[0.0, 1.0], [1.0, 0.5], [2.0, 0.0], [3.0, 1.5]]


def stored(app, dataset_id):
    with app_state(app).sessions() as session:
        row = session.get(Dataset, dataset_id)
        return row, *decode_arrays(row.data)


def errors_of(response):
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    return response.get_json()["errors"]


def csv_upload(client, text: str, **fields):
    data = {"file": (io.BytesIO(text.encode()), "iris.csv"), **fields}
    return client.post("/v1/datasets", data=data, content_type="multipart/form-data")


# ---- JSON arrays ------------------------------------------------------------------------------


def test_json_dataset_answers_201_with_location_and_the_dataset(client, app):
    response = client.post("/v1/datasets", json={"name": "toy", "features": FEATURES, "targets": ["b", "a", "b", "c"]})
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"/v1/datasets/{body['id']}"
    assert {key: body[key] for key in ("name", "task", "n_samples", "n_features", "classes")} == {
        "name": "toy", "task": "classification", "n_samples": 4, "n_features": 2, "classes": ["a", "b", "c"]}
    assert body["created_at"].endswith("Z") or "+00:00" in body["created_at"]
    row, features, targets = stored(app, body["id"])
    np.testing.assert_array_equal(features, FEATURES)
    assert targets.dtype == np.int64 and targets.tolist() == [1, 0, 1, 2]  # Indices into classes.
    assert len(row.checksum) == 64


GRAMS = [3000 + 7 * index for index in range(200)]  # A weight in grams: JSON integers, not 200 labels.


@pytest.mark.parametrize("targets, task, classes, reason_part", [
    ([3, 1, 3, 1], "classification", [1, 3], "2 distinct values: class labels"),  # JSON integers are labels.
    ([0.5, 1.0, 2.5, 3.0], "regression", None, "fraction"),  # Any fraction makes values.
    ([1.0, 2.0, 1.0, 2.0], "regression", None, "fraction"),  # 1.0 is a value, 1 a label...
    ([0.0, 1.0, 1.0, 0.0], "classification", [0, 1], "all 0 or 1"),  # ...but a 0/1 label is a label however written.
    ([1, 2.5, 1, 2], "regression", None, "fraction"),
    (["b", "a", "b", "a"], "classification", ["a", "b"], "strings"),
    (GRAMS, "regression", None, "200 distinct values in 200 rows"),
    ([index % 20 for index in range(200)], "classification", list(range(20)), "20 distinct values"),
])
def test_task_is_inferred_from_the_json_targets_by_the_uploads_rule(client, app, targets, task, classes, reason_part):
    features = [[float(index), 1.0] for index in range(len(targets))]
    body = create_dataset(client, features=features, targets=targets)
    assert (body["task"], body["classes"]) == (task, classes)
    assert reason_part in body["task_reason"]
    assert client.get(f"/v1/datasets/{body['id']}").get_json()["task_reason"] == body["task_reason"]
    _, _, stored_targets = stored(app, body["id"])
    assert stored_targets.dtype == (np.float64 if task == "regression" else np.int64)


def test_json_and_csv_targets_get_the_same_task_and_reason(client):
    """The JSON body's integers are a CSV's digit-only cells: one rule, one reason, both ways in."""
    for targets in (GRAMS, [index % 2 for index in range(200)], [index % 5 for index in range(200)]):
        from_json = create_dataset(client, features=[[float(index)] for index in range(200)], targets=targets)
        text = "x,y\n" + "".join(f"{index}.0,{target}\n" for index, target in enumerate(targets))
        from_csv = csv_upload(client, text, target="y").get_json()
        assert (from_json["task"], from_json["task_reason"]) == (from_csv["task"], from_csv["task_reason"])
        assert from_csv["task_reason"] == from_csv["target"]["task_reason"]


def test_a_generated_dataset_says_its_task_comes_from_the_generator(client):
    body = spiral_dataset(client)
    assert body["task"] == "classification" and "spiral generator" in body["task_reason"]


def test_an_explicit_task_overrides_inference(client):
    body = create_dataset(client, features=FEATURES, targets=[1, 2, 3, 4], task="regression")
    assert (body["task"], body["task_reason"]) == ("regression", "the request's task")
    body = create_dataset(client, features=FEATURES, targets=[1.0, 2.0, 1.0, 2.0], task="classification")
    assert body["classes"] == [1, 2]


@pytest.mark.parametrize("body, pointer", [
    ({"features": [[0, 1], [1, 2], [2, 3], [3]], "targets": [0, 1, 0, 1]}, "/features/3"),  # Ragged.
    ({"features": [[0, "x"], [1, 2]], "targets": [0, 1]}, "/features/0/1"),  # Not a number.
    ({"features": [[0, True], [1, 2]], "targets": [0, 1]}, "/features/0/1"),  # Not a number either.
    ({"features": FEATURES, "targets": [0, 1, 0]}, "/targets"),  # Lengths differ.
    ({"features": FEATURES, "targets": [0, 0, 0, 0]}, "/targets"),  # A single class.
    ({"features": FEATURES, "targets": [0, 1, "a", 1]}, "/targets/2"),  # Numbers and strings.
    ({"features": FEATURES, "targets": [0, None, 1, 1]}, "/targets/1"),
    ({"features": FEATURES, "targets": ["a", "b", "a", "b"], "task": "regression"}, "/targets"),
    ({"features": FEATURES, "targets": [0.5, 1, 0, 1], "task": "classification"}, "/targets"),
    ({"features": [], "targets": []}, "/features"),
    ({"features": [[]], "targets": [1]}, "/features/0"),
    ({"features": FEATURES}, "/targets"),  # Missing.
    ({"features": FEATURES, "targets": [0, 1, 0, 1], "colour": "red"}, "/colour"),  # Unknown field.
    ({"features": FEATURES, "targets": [0, 1, 0, 1], "task": "clustering"}, "/task"),
])
def test_invalid_arrays_are_422_naming_the_field(client, body, pointer):
    errors = errors_of(client.post("/v1/datasets", json=body))
    assert pointer in [error["pointer"] for error in errors]


@pytest.mark.parametrize("number", ["1e999", "-1e400", "1" + "0" * 400])
def test_numbers_too_large_for_a_float_are_422(client, number):
    body = '{"features": [[0, %s], [1, 2]], "targets": [0.5, 1.5]}' % number
    errors = errors_of(client.post("/v1/datasets", data=body, content_type="application/json"))
    assert errors[0]["pointer"] == "/features/0/1"


def test_nan_literal_is_malformed_json(client):
    response = client.post("/v1/datasets", data='{"features": [[NaN]], "targets": [1]}', content_type="application/json")
    assert response.status_code == 400
    assert "NaN" in response.get_json()["detail"]


def test_limits_from_settings_are_422_naming_the_limit(make_app):
    client = make_app(max_rows=3, max_features=2, max_classes=2).test_client()
    rows = errors_of(client.post("/v1/datasets", json={"features": FEATURES, "targets": [0, 1, 0, 1]}))
    assert rows[0]["pointer"] == "/features" and "max_rows" in rows[0]["detail"]
    wide = errors_of(client.post("/v1/datasets", json={"features": [[1, 2, 3]] * 2, "targets": [0, 1]}))
    assert wide[0]["pointer"] == "/features/0" and "max_features" in wide[0]["detail"]
    classes = errors_of(client.post("/v1/datasets", json={"features": FEATURES[:3], "targets": [0, 1, 2]}))
    assert classes[0]["pointer"] == "/targets" and "max_classes" in classes[0]["detail"]
    generated = errors_of(client.post("/v1/datasets", json={"generator": {"kind": "xor", "n_samples": 10}}))
    assert generated[0]["pointer"] == "/generator/n_samples"


# ---- generator --------------------------------------------------------------------------------


def test_generator_dataset_matches_the_engine(client, app):
    body = create_dataset(client, generator={"kind": "plane", "n_samples": 50, "seed": 4, "features": ["x1", "x1*x2"]})
    assert (body["task"], body["n_samples"], body["n_features"], body["classes"]) == ("regression", 50, 2, None)
    assert body["feature_names"] == ["x1", "x1*x2"] and body["name"] == "plane"
    from mlp.playground_data import GeneratorSpec, generate

    expected = generate(GeneratorSpec(kind="plane", n_samples=50, seed=4, features=["x1", "x1*x2"]))
    _, features, targets = stored(app, body["id"])
    np.testing.assert_array_equal(features, expected.features)
    np.testing.assert_array_equal(targets, expected.targets)


def test_invalid_generator_names_the_field(client):
    errors = errors_of(client.post("/v1/datasets", json={"generator": {"kind": "moons", "n_samples": 10}}))
    assert errors[0]["pointer"] == "/generator/kind"


@pytest.mark.parametrize("seed", [False, "4", 4.5])
def test_a_number_of_the_wrong_json_type_is_refused(client, seed):
    # Lax pydantic would read false as 0 and "4" as 4; the document says integer (4.0 is one:
    # tests/service/test_document.py).
    errors = errors_of(client.post("/v1/datasets", json={"generator": {"kind": "xor", "seed": seed}}))
    assert [error["pointer"] for error in errors] == ["/generator/seed"]


# ---- CSV upload -------------------------------------------------------------------------------


def test_csv_upload_with_string_target(client, app):
    response = csv_upload(client, "length,width,species\n1.0,2,setosa\n3,4.5,virginica\n\n5,6,setosa\n",
                          target="species")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["name"], body["task"], body["classes"], body["feature_names"]) == (
        "iris.csv", "classification", ["setosa", "virginica"], ["length", "width"])
    _, features, targets = stored(app, body["id"])
    np.testing.assert_array_equal(features, [[1, 2], [3, 4.5], [5, 6]])
    assert targets.tolist() == [0, 1, 0]


def test_csv_as_a_text_field_works_too(client):
    data = {"file": "a,y\n1,0.5\n2,1.5\n", "target": "y"}
    body = client.post("/v1/datasets", data=data, content_type="multipart/form-data").get_json()
    assert (body["name"], body["task"], body["n_samples"]) == ("dataset", "regression", 2)


def test_csv_numeric_targets_follow_the_json_rule(client):
    assert csv_upload(client, "a,y\n1,0.5\n2,1.5\n", target="y").get_json()["task"] == "regression"
    body = csv_upload(client, "y,a\n1,0.5\n2,1.5\n", target="y", name="ints").get_json()
    assert (body["task"], body["classes"], body["name"]) == ("classification", [1, 2], "ints")


@pytest.mark.parametrize("text, target, expected", [
    ("a,b,y\n1,x,0\n2,3,1\n", "y", {"field": "file", "row": 2, "column": "b"}),  # Non-numeric cell.
    ("a,y\ninf,0\n2,1\n", "y", {"field": "file", "row": 2, "column": "a"}),  # NaN is missing; inf is refused.
    ("a,y\n1e999,0\n2,1\n", "y", {"field": "file", "row": 2, "column": "a"}),
    ("a,y\n1,0\n2\n", "y", {"field": "file", "row": 3}),  # Ragged row.
    ("a,y\n1,nan\n2,1.5\n", "y", {"field": "file", "row": 2, "column": "y"}),
    ("a,y\n1,0\n2,1\n", "label", {"field": "target"}),  # No such column.
    ("a,a,y\n1,2,0\n", "y", {"field": "file", "row": 1}),  # Duplicate names.
    ("", "y", {"field": "file"}),
    ("a,y\n1,0\n2,0\n", "y", {"field": "file", "column": "y"}),  # A single class.
    ("a,y\n1," + "9" * 5000 + "\n2,3\n", "y", {"field": "file", "row": 2, "column": "y"}),  # Past int64.
])
def test_invalid_csv_is_422_naming_field_row_and_column(client, text, target, expected):
    errors = errors_of(csv_upload(client, text, target=target))
    assert {key: errors[0].get(key) for key in expected} == expected


def test_csv_without_a_file_or_target_is_422(client):
    missing_file = client.post("/v1/datasets", data={"target": "y"}, content_type="multipart/form-data")
    assert errors_of(missing_file)[0]["field"] == "file"
    missing_target = client.post("/v1/datasets", data={"file": (io.BytesIO(b"a,y\n1,2\n"), "x.csv")},
                                 content_type="multipart/form-data")
    assert errors_of(missing_target)[0]["field"] == "target"


def test_csv_limits(make_app):
    client = make_app(max_rows=2, max_features=1).test_client()
    assert "max_rows" in errors_of(csv_upload(client, "a,y\n1,0\n2,1\n3,0\n", target="y"))[0]["detail"]
    assert "max_features" in errors_of(csv_upload(client, "a,b,y\n1,2,0\n", target="y"))[0]["detail"]


# ---- list, show, delete -----------------------------------------------------------------------


def test_list_is_newest_first_and_paged(make_app):
    client = make_app(page_size=2).test_client()
    ids = [spiral_dataset(client, 10 + index)["id"] for index in range(3)]
    first = client.get("/v1/datasets").get_json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    second = client.get(first["next"]).get_json()
    assert [item["id"] for item in second["items"]] == [ids[0]] and second["next"] is None
    assert errors_of(client.get("/v1/datasets?cursor=not a cursor"))[0]["parameter"] == "cursor"


def test_get_and_unknown_ids(client):
    dataset = spiral_dataset(client)
    assert client.get(f"/v1/datasets/{dataset['id']}").get_json() == dataset
    for response in (client.get("/v1/datasets/nope"), client.delete("/v1/datasets/nope")):
        assert response.status_code == 404 and response.mimetype == "application/problem+json"
        assert "nope" in response.get_json()["detail"]


def test_delete_is_204_then_404(client):
    dataset = spiral_dataset(client)
    response = client.delete(f"/v1/datasets/{dataset['id']}")
    assert response.status_code == 204 and response.data == b""
    assert client.get(f"/v1/datasets/{dataset['id']}").status_code == 404


@pytest.mark.parametrize("status", ["queued", "running", "cancelling"])
def test_delete_is_409_while_a_job_uses_the_dataset(client, app, status):
    dataset = spiral_dataset(client)
    insert_job(app, dataset["id"], status)
    response = client.delete(f"/v1/datasets/{dataset['id']}")
    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    assert client.get(f"/v1/datasets/{dataset['id']}").status_code == 200


def test_delete_after_the_job_finished_keeps_the_job(client, app):
    dataset = spiral_dataset(client)
    job = submit_job(client, dataset["id"])
    assert client.post(f"/v1/jobs/{job['id']}/cancel").get_json()["status"] == "cancelled"
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    assert client.get(f"/v1/jobs/{job['id']}").get_json()["dataset_id"] is None
    with app_state(app).sessions() as session:
        assert session.get(Job, job["id"]) is not None
