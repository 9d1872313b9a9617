"""/v1/models: description, weights, and predictions that match the engine's own."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sqlalchemy import delete

from mlp import Model
from service.app_state import app_state
from service.lru import LRUCache
from service.tables import TrainedModel

from tests.support.rows import insert_model


@pytest.fixture
def classifier_id(app, classifier):
    return insert_model(app, classifier).id


def test_show_model(client, app, classifier):
    row = insert_model(app, classifier)
    body = client.get(f"/v1/models/{row.id}").get_json()
    assert {key: body[key] for key in ("id", "job_id", "task", "n_features", "classes")} == {
        "id": row.id, "job_id": row.job_id, "task": "classification", "n_features": 3, "classes": ["cat", "dog", "eel"]}
    assert body["metrics"]["epoch"] == 20 and body["spec"]["layers"][0]["units"] == 8
    # Trained to the end: the weights are the last epoch's, and so are both records.
    assert body["epoch"] == 20 and body["last_metrics"] == body["metrics"] == classifier.history[-1]


def test_weights_are_the_artefact(client, classifier_id, classifier):
    response = client.get(f"/v1/models/{classifier_id}/weights")
    assert response.status_code == 200 and response.mimetype == "application/octet-stream"
    assert f"axon-model-{classifier_id}.npz" in response.headers["Content-Disposition"]
    loaded = Model.from_bytes(response.data)
    np.testing.assert_array_equal(loaded.params, classifier.model.params)


def test_predict_classification_matches_the_engine(client, classifier_id, classifier, blobs):
    inputs = blobs[0][::10]
    response = client.post(f"/v1/models/{classifier_id}/predict", json={"inputs": inputs.tolist()})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    expected = classifier.model.predict(inputs)
    assert body["predictions"] == expected.predictions.tolist()
    np.testing.assert_allclose(body["probabilities"], expected.probabilities, rtol=1e-6)
    np.testing.assert_allclose(np.sum(body["probabilities"], axis=1), 1.0, rtol=1e-5)
    assert body["classes"] == ["cat", "dog", "eel"]
    # The model learned something: most training rows come back with their own label.
    assert np.mean(np.asarray(body["predictions"]) == blobs[1][::10]) > 0.8


def test_predict_regression_has_no_probabilities(client, app, regressor):
    model_id = insert_model(app, regressor).id
    body = client.post(f"/v1/models/{model_id}/predict", json={"inputs": [[0.5, -1.0], [2.0, 3.0]]}).get_json()
    assert set(body) == {"predictions"}
    np.testing.assert_allclose(body["predictions"], regressor.model.predict([[0.5, -1.0], [2.0, 3.0]]).predictions,
                               rtol=1e-6)


@pytest.mark.parametrize("text", ["1,2,3\n4,5,6\n", "a,b,c\n1,2,3\n4,5,6\n", "\ufeffa,b,c\r\n1,2,3\r\n\r\n4,5,6\r\n"])
def test_predict_from_csv_rows_with_or_without_header(client, classifier_id, classifier, text):
    response = client.post(f"/v1/models/{classifier_id}/predict", data=text.encode(), content_type="text/csv")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["predictions"] == classifier.model.predict([[1, 2, 3], [4, 5, 6]]).predictions.tolist()


@pytest.mark.parametrize("body, pointer", [
    ({"inputs": [[1.0, 2.0]]}, "/inputs"),  # Every row too short: the model takes 3.
    ({"inputs": [[1, 2, 3], [1, 2]]}, "/inputs/1"),  # One row wrong.
    ({"inputs": [[1, 2, "x"]]}, "/inputs/0/2"),
    ({"inputs": []}, "/inputs"),
    ({"rows": [[1, 2, 3]]}, "/rows"),
    ({"inputs": [[1e300, 2, 3]]}, "/inputs"),  # Finite, but past float32: never NaN in the answer.
])
def test_invalid_inputs_are_422(client, classifier_id, body, pointer):
    response = client.post(f"/v1/models/{classifier_id}/predict", json=body)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert pointer in [error["pointer"] for error in response.get_json()["errors"]]


def test_invalid_csv_cell_names_the_cell(client, classifier_id):
    response = client.post(f"/v1/models/{classifier_id}/predict", data=b"1,2,3\n4,oops,6\n", content_type="text/csv")
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["pointer"] == "/inputs/1/1"
    nan = client.post(f"/v1/models/{classifier_id}/predict", data=b"1,2,3\n4,NaN,6\n", content_type="text/csv")
    assert nan.get_json()["errors"][0]["pointer"] == "/inputs/1/1"


def test_too_many_rows_is_422_naming_the_limit(make_app, classifier):
    app = make_app(max_predict_rows=2)
    model_id = insert_model(app, classifier).id
    response = app.test_client().post(f"/v1/models/{model_id}/predict", json={"inputs": [[1, 2, 3]] * 3})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["pointer"] == "/inputs"
    assert "max_predict_rows" in response.get_json()["errors"][0]["detail"]


def test_predict_wrong_content_type_is_415(client, classifier_id):
    response = client.post(f"/v1/models/{classifier_id}/predict", data="1,2,3", content_type="text/plain")
    assert response.status_code == 415 and response.mimetype == "application/problem+json"


def test_unknown_model_is_404_on_every_route(client):
    for response in (client.get("/v1/models/nope"), client.get("/v1/models/nope/weights"),
                     client.post("/v1/models/nope/predict", json={"inputs": [[1.0]]})):
        assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_a_loaded_model_is_served_from_the_cache(client, app, classifier_id):
    assert client.post(f"/v1/models/{classifier_id}/predict", json={"inputs": [[1, 2, 3]]}).status_code == 200
    with app_state(app).sessions() as session:
        session.execute(delete(TrainedModel).where(TrainedModel.id == classifier_id))
        session.commit()
    assert client.get(f"/v1/models/{classifier_id}").status_code == 404
    # No database read: the row is gone, the cached model still answers.
    assert client.post(f"/v1/models/{classifier_id}/predict", json={"inputs": [[1, 2, 3]]}).status_code == 200


def test_model_cache_evicts_the_least_recently_used():
    cache = LRUCache(capacity=2)
    cache.put("a", ("local", "model a"))
    cache.put(("b", 1), ("local", "model b"))  # Any hashable key: the boundary cache keys by tuples.
    assert cache.get("a") == ("local", "model a")  # Now ("b", 1) is the least recently used.
    cache.put("c", ("local", "model c"))
    assert ("a" in cache, ("b", 1) in cache, "c" in cache, len(cache)) == (True, False, True, 2)
    assert cache.get(("b", 1)) is None


def test_upload_bytes_are_not_confused_with_a_file(client, classifier_id):
    data = {"file": (io.BytesIO(b"1,2,3\n"), "rows.csv")}
    response = client.post(f"/v1/models/{classifier_id}/predict", data=data, content_type="multipart/form-data")
    assert response.status_code == 415


def test_an_answer_over_max_predict_values_is_422_before_predicting(make_app, classifier):
    # 3 classes: 6 rows answer 18 probabilities, 7 rows 21, over the limit of 20.
    app = make_app(max_predict_values=20)
    model_id = insert_model(app, classifier).id
    client = app.test_client()
    assert client.post(f"/v1/models/{model_id}/predict", json={"inputs": [[1, 2, 3]] * 6}).status_code == 200
    response = client.post(f"/v1/models/{model_id}/predict", json={"inputs": [[1, 2, 3]] * 7})
    assert response.status_code == 422
    error = response.get_json()["errors"][0]
    assert error["pointer"] == "/inputs"
    assert "max_predict_values" in error["detail"] and "at most 6 rows" in error["detail"]
    csv_rows = client.post(f"/v1/models/{model_id}/predict", data=b"1,2,3\n" * 7, content_type="text/csv")
    assert csv_rows.status_code == 422
