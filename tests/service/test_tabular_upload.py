"""Uploads of tables as pandas writes them: the schema Axon infers, checked against pandas; task
inference and its reason; every problem in one answer; Parquet read as its CSV twin."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from .test_datasets import errors_of, stored


def penguins(n_rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """A table like palmerpenguins': text, missing cells, booleans, a date, an integer measurement."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Chinstrap", "Gentoo"], size=n_rows)
    bill = np.where(species == "Gentoo", 47.0, np.where(species == "Adelie", 38.0, 49.0)) + rng.normal(0, 1.5, n_rows)
    frame = pd.DataFrame({
        "island": rng.choice(["Torgersen", "Biscoe", "Dream"], size=n_rows),
        "bill_length_mm": bill.round(1),
        "body_mass_g": (3500 + 400 * (species == "Gentoo") + rng.integers(-300, 300, n_rows)).astype(int),
        "is_male": rng.random(n_rows) < 0.5,
        "observed": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n_rows), unit="D"),
        "name": [f"bird-{index:04d}" for index in range(n_rows)],
        "species": species,
    })
    frame.loc[rng.choice(n_rows, 9, replace=False), "bill_length_mm"] = np.nan
    frame.loc[rng.choice(n_rows, 7, replace=False), "island"] = None
    # Odd column order, as a spreadsheet export might have it.
    return frame[["species", "name", "observed", "island", "is_male", "body_mass_g", "bill_length_mm"]]


def upload(client, content: bytes, filename: str = "penguins.csv", **fields):
    data = {"file": (io.BytesIO(content), filename), **fields}
    return client.post("/v1/datasets", data=data, content_type="multipart/form-data")


def as_csv(frame: pd.DataFrame, **options) -> bytes:
    return frame.to_csv(**options).encode()


def test_a_table_as_pandas_writes_it_uploads_with_its_schema(client, app):
    frame = penguins()
    text = as_csv(frame)  # With the index column, unnamed, first; NaN written as empty cells.
    text = text.replace(b",,", b",NA,", 3)  # Some missing cells spelt NA, as R writes them.
    response = upload(client, text, target="species")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    kinds = {column["name"]: column["kind"] for column in body["columns"]}
    assert kinds == {"Unnamed: 0": "identifier", "name": "text", "observed": "datetime", "island": "categorical",
                     "is_male": "boolean", "body_mass_g": "numeric", "bill_length_mm": "numeric"}
    missing = {column["name"]: column["missing"] for column in body["columns"] if column["name"] in frame}
    assert missing == frame.drop(columns="species").isna().sum().to_dict()  # pandas counts the same cells.
    [island] = [column for column in body["columns"] if column["name"] == "island"]
    assert island["categories"] == sorted(frame["island"].dropna().unique()) and island["other"] is False
    assert body["feature_names"] == ["observed", "island", "is_male", "body_mass_g", "bill_length_mm"]
    assert body["target"] == {"name": "species", "kind": "string", "task": "classification",
                              "task_reason": "the target holds text: class labels"}
    assert body["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert client.get(f"/v1/datasets/{body['id']}").get_json() == body  # Stored, and shown again.
    _, features, targets = stored(app, body["id"])
    # The coded columns: numbers as written (NaN where missing), booleans 0/1, categories by index.
    np.testing.assert_array_equal(features[:, 3], frame["body_mass_g"])
    np.testing.assert_array_equal(features[:, 4], frame["bill_length_mm"])
    np.testing.assert_array_equal(features[:, 2], frame["is_male"].astype(float))
    codes = frame["island"].map({label: index for index, label in enumerate(island["categories"])})
    np.testing.assert_array_equal(features[:, 1], codes.astype(float))
    np.testing.assert_array_equal(features[:, 0], (frame["observed"] - pd.Timestamp(0)).dt.total_seconds())
    assert [body["classes"][index] for index in targets] == frame["species"].tolist()


def test_rare_categories_fold_into_other(client):
    rng = np.random.default_rng(1)
    common = rng.choice([f"c{index:02d}" for index in range(50)], size=2000)
    rare = [f"rare{index}" for index in range(30)]
    frame = pd.DataFrame({"shop": np.concatenate([common, rare]), "y": rng.integers(0, 2, 2030)})
    body = upload(client, as_csv(frame, index=False), target="y").get_json()
    [shop] = body["columns"]
    assert shop["kind"] == "categorical" and shop["other"] is True
    assert shop["categories"] == sorted(set(common)) + ["other"] and "30 rarer" in shop["reason"]


@pytest.mark.parametrize("target, values, task, reason_part, classes", [
    ("mass", [float(3000 + 7 * index) for index in range(200)], "regression", "200 distinct values", None),
    ("label", [float(index % 2) for index in range(200)], "classification", "all 0 or 1", [0, 1]),
    ("label", [index % 3 for index in range(200)], "classification", "3 distinct values", [0, 1, 2]),
    ("label", [index % 2 == 0 for index in range(200)], "classification", "true/false", [False, True]),
    ("score", [index / 7 for index in range(200)], "regression", "fraction", None),
])
def test_task_inference_says_what_it_did(client, target, values, task, reason_part, classes):
    frame = pd.DataFrame({"x": np.arange(200) * 0.5, target: values})
    if target == "mass":
        frame[target] = frame[target].astype(int)  # A weight in grams: whole numbers, not labels.
    body = upload(client, as_csv(frame, index=False), target=target).get_json()
    assert (body["task"], body["target"]["task"], body["classes"]) == (task, task, classes)
    assert reason_part in body["target"]["task_reason"]


def test_an_explicit_task_wins(client):
    frame = pd.DataFrame({"x": np.arange(100.0), "y": np.arange(100) % 40})
    body = upload(client, as_csv(frame, index=False), target="y", task="classification").get_json()
    assert (body["task"], body["target"]["task_reason"]) == ("classification", "the request's task")
    body = upload(client, as_csv(frame, index=False), target="y").get_json()
    assert body["task"] == "regression"


def test_overrides_name_the_kind(client):
    frame = pd.DataFrame({"year": [2019, 2020, 2021, 2019] * 10, "name": [f"n{index}" for index in range(40)],
                          "x": np.linspace(0, 1, 40), "y": [0, 1] * 20})
    body = upload(client, as_csv(frame, index=False), target="y",
                  columns='{"year": "categorical", "x": "ignore"}').get_json()
    kinds = {column["name"]: column["kind"] for column in body["columns"]}
    assert kinds == {"year": "categorical", "name": "text", "x": "ignored"}
    assert body["columns"][0]["categories"] == ["2019", "2020", "2021"]
    assert body["feature_names"] == ["year"]


def test_every_problem_comes_in_one_answer(client):
    lines = ["a,b,c,d,y"] + [f"{index},{index}.5,{index},true,{index % 2}" for index in range(40)]
    lines[3] = "1_000,2.5,inf,true,1"   # a: a thousands separator; c: an infinity
    lines[5] = "7,oops,8,true,"          # b: a typo; y: no target
    lines[9] = "9,9.5,1e999,maybe,1"     # c: past float64; d is then text among booleans
    response = upload(client, "\n".join(lines).encode(), target="y", columns='{"d": "boolean", "zz": "numeric"}')
    errors = errors_of(response)
    by_column = {error["column"]: error for error in errors}
    assert set(by_column) == {"zz", "y", "a", "b", "c", "d"}
    assert by_column["a"]["detail"].startswith("line 4, column 'a': '1_000' is not a number")
    assert by_column["c"]["detail"].startswith("line 4, column 'c': 'inf' is not a finite number; also '1e999' (line 10)")
    assert by_column["d"]["row"] == 10 and "is not true or false" in by_column["d"]["detail"]
    assert "1 row has no usable target 'y'" in by_column["y"]["detail"] and by_column["y"]["row"] == 6


def test_listed_cells_are_bounded(client):
    lines = ["a,y"] + [f"{index},{index % 2}" for index in range(100)] + [f"x{index},1" for index in range(40)]
    [error] = errors_of(upload(client, "\n".join(lines).encode(), target="y"))
    assert error["detail"].count("(line ") == 9 and "and 30 more" in error["detail"]


def test_no_usable_feature_is_refused_saying_why(client):
    frame = pd.DataFrame({"name": [f"n{index}" for index in range(40)], "y": [0, 1] * 20})
    [error] = errors_of(upload(client, as_csv(frame), target="y"))
    assert "no usable feature column" in error["detail"] and "'name' is text" in error["detail"]


def test_parquet_makes_the_same_dataset_as_its_csv_twin(client, app):
    frame = penguins(60, seed=3)
    from_csv = upload(client, as_csv(frame, index=False), target="species").get_json()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    response = upload(client, buffer.getvalue(), filename="penguins.parquet", target="species")
    assert response.status_code == 201, response.get_json()
    from_parquet = response.get_json()
    assert from_parquet["columns"] == from_csv["columns"] and from_parquet["target"] == from_csv["target"]
    _, csv_features, csv_targets = stored(app, from_csv["id"])
    _, parquet_features, parquet_targets = stored(app, from_parquet["id"])
    np.testing.assert_array_equal(parquet_features, csv_features)
    np.testing.assert_array_equal(parquet_targets, csv_targets)


def test_a_parquet_upload_over_the_body_limit_is_413(make_app):
    client = make_app(max_body_bytes=10_000).test_client()
    buffer = io.BytesIO()
    pd.DataFrame({"x": np.random.default_rng(0).normal(size=5000), "y": [0, 1] * 2500}).to_parquet(buffer)
    assert upload(client, buffer.getvalue(), filename="big.parquet", target="y").status_code == 413


# ---- a raw text/csv or Parquet body, the options as query parameters ------------------------


def raw_upload(client, content: bytes, media_type: str = "text/csv", **parameters):
    return client.post("/v1/datasets", data=content, content_type=media_type, query_string=parameters)


@pytest.mark.parametrize("media_type", ["text/csv", "application/vnd.apache.parquet"])
def test_a_raw_body_makes_the_dataset_its_multipart_upload_makes(client, app, media_type):
    frame = penguins(80, seed=5)
    if media_type == "text/csv":
        content = as_csv(frame, index=False)
    else:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        content = buffer.getvalue()
    options = {"target": "species", "columns": '{"island": "ignore"}'}
    from_form = upload(client, content, filename="penguins", **options).get_json()
    response = raw_upload(client, content, media_type, name="birds", **options)
    assert response.status_code == 201, response.get_json()
    from_body = response.get_json()
    assert response.headers["Location"] == f"/v1/datasets/{from_body['id']}"
    assert from_body["name"] == "birds"
    for key in ("task", "task_reason", "classes", "feature_names", "columns", "target"):
        assert from_body[key] == from_form[key], key
    assert {column["name"]: column["kind"] for column in from_body["columns"]}["island"] == "ignored"
    _, form_features, form_targets = stored(app, from_form["id"])
    _, body_features, body_targets = stored(app, from_body["id"])
    np.testing.assert_array_equal(body_features, form_features)
    np.testing.assert_array_equal(body_targets, form_targets)


def test_a_raw_body_spooled_to_disk_reads_as_one_in_memory(client, app):
    """Past a megabyte the body goes to a temporary file, which the reader seeks in and reads again."""
    rng = np.random.default_rng(2)
    n_rows = 200_000
    frame = pd.DataFrame({"x": rng.integers(0, 1000, n_rows), "k": rng.choice(["a", "b"], n_rows),
                          "y": rng.integers(0, 2, n_rows)})
    content = as_csv(frame, index=False) + b"2.5,a,1\n"  # A fraction past the first block: read again as text.
    assert len(content) > 1 << 20
    body = raw_upload(client, content, target="y").get_json()
    assert (body["n_samples"], body["name"]) == (n_rows + 1, "dataset")
    _, features, targets = stored(app, body["id"])
    assert features[:, 0].tolist() == frame["x"].tolist() + [2.5]
    assert targets.tolist() == frame["y"].tolist() + [1]


@pytest.mark.parametrize("parameters, field", [
    ({}, "target"),  # The one option a raw body must have.
    ({"target": ""}, "target"),
    ({"target": "y", "task": "clustering"}, "task"),
    ({"target": "y", "columns": "{not json"}, "columns"),
    ({"target": "nope"}, "target"),
])
def test_a_raw_body_with_bad_options_is_a_422_naming_them(client, app, parameters, field):
    errors = errors_of(raw_upload(client, b"x,y\n1,0\n2,1\n3,0\n", **parameters))
    assert [error["field"] for error in errors] == [field], errors
    assert client.get("/v1/datasets").get_json()["items"] == []


def test_a_raw_body_over_the_body_limit_is_413_and_stores_nothing(make_app):
    client = make_app(max_body_bytes=10_000).test_client()
    content = b"x,y\n" + b"".join(b"%d,%d\n" % (index, index % 2) for index in range(5000))
    response = raw_upload(client, content, target="y")
    assert response.status_code == 413 and response.mimetype == "application/problem+json"
    assert client.get("/v1/datasets").get_json()["items"] == []


def test_upload_options_as_query_parameters_of_another_body_are_refused(client):
    response = client.post("/v1/datasets?task=regression&target=y",
                           json={"features": [[0.0], [1.0], [2.0], [3.0]], "targets": [0, 1, 0, 1]})
    errors = errors_of(response)
    assert [error["parameter"] for error in errors] == ["target", "task"]
    assert "raw text/csv or Parquet body only" in errors[0]["detail"]
    assert client.get("/v1/datasets").get_json()["items"] == []
