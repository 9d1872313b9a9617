"""GET /v1/models/{id}/onnx: the export a client downloads answers as the model's predict does."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime

from tests.support.rows import insert_model


def session_of(blob: bytes) -> onnxruntime.InferenceSession:
    onnx.checker.check_model(onnx.load_model_from_string(blob), full_check=True)
    return onnxruntime.InferenceSession(blob, providers=["CPUExecutionProvider"])


def test_the_onnx_export_labels_as_predict_does(client, app, classifier, blobs):
    model_id = insert_model(app, classifier).id
    response = client.get(f"/v1/models/{model_id}/onnx")
    assert response.status_code == 200 and response.mimetype == "application/octet-stream"
    assert f'filename="axon-model-{model_id}.onnx"' in response.headers["Content-Disposition"]
    rows = blobs[0]
    labels, probabilities = session_of(response.data).run(["label", "probabilities"], {"features": rows})
    served = client.post(f"/v1/models/{model_id}/predict", json={"inputs": rows.tolist()}).get_json()
    assert labels.tolist() == served["predictions"]
    np.testing.assert_allclose(probabilities, served["probabilities"], rtol=1e-5, atol=np.finfo(np.float32).eps)


def test_the_onnx_export_of_a_regressor_gives_values(client, app, regressor):
    model_id = insert_model(app, regressor).id
    response = client.get(f"/v1/models/{model_id}/onnx")
    assert response.status_code == 200
    rows = np.array([[0.5, -1.0], [2.0, 3.0], [-4.0, 0.25]])
    session = session_of(response.data)
    assert [output.name for output in session.get_outputs()] == ["value"]
    served = client.post(f"/v1/models/{model_id}/predict", json={"inputs": rows.tolist()}).get_json()
    np.testing.assert_allclose(session.run(["value"], {"features": rows})[0], served["predictions"], rtol=1e-5)


def test_an_unknown_model_is_404(client):
    # Another tenant's model is 404 too: test_tenants walks every route with an id, this one included.
    response = client.get("/v1/models/no-such-model/onnx")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert "no-such-model" in response.get_json()["detail"]


def test_the_route_is_in_the_api_document(client):
    document = client.get("/openapi.json").get_json()
    operation = document["paths"]["/v1/models/{model_id}/onnx"]["get"]
    assert "application/octet-stream" in operation["responses"]["200"]["content"]
