"""``axon export --format onnx`` and ``Client.export(format="onnx")`` against a live ``axon serve``:
what onnxruntime computes from the downloaded file is what the server's predict answers."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest

from tests.support.live import axon

SPEC = {"layers": [{"units": 8, "activation": "gelu"}, {"units": 8, "activation": "softplus"}], "epochs": 4,
        "batch_size": 10, "device": "cpu"}
ROWS = np.random.default_rng(0).normal(scale=2.0, size=(50, 2))


@pytest.fixture(scope="module")
def model_id(client):
    dataset = client.create_dataset(generator={"kind": "spiral", "n_samples": 100, "seed": 3})
    job = client.wait(client.submit(dataset["id"], SPEC)["id"], timeout=60, poll=0.1)
    assert job["status"] == "succeeded", job
    return job["model_id"]


def onnx_answers(path) -> tuple[np.ndarray, np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return tuple(session.run(["label", "probabilities"], {"features": ROWS}))


def test_the_command_writes_an_onnx_model_that_predicts_as_the_server(server, client, model_id, tmp_path):
    completed = axon(server, "export", model_id, "--format", "onnx", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    path = tmp_path / f"axon-model-{model_id}.onnx"
    assert completed.stdout.strip() == f"wrote axon-model-{model_id}.onnx" and path.is_file()
    labels, probabilities = onnx_answers(path)
    served = client.predict(model_id, ROWS)
    assert labels.tolist() == served.predictions.tolist()
    np.testing.assert_allclose(probabilities, served.probabilities, rtol=1e-5, atol=np.finfo(np.float32).eps)


def test_the_client_exports_onnx_and_refuses_an_unknown_format(client, model_id, tmp_path):
    labels, _ = onnx_answers(client.export(model_id, tmp_path / "model.onnx", format="onnx"))
    assert labels.tolist() == client.predict(model_id, ROWS).predictions.tolist()
    with pytest.raises(ValueError, match="format must be one of npz, onnx"):
        client.export(model_id, tmp_path / "model.pt", format="torch")


def test_an_unknown_format_is_a_usage_error(server, model_id):
    completed = axon(server, "export", model_id, "--format", "torch")
    assert completed.returncode == 2 and "'torch' is not one of 'npz', 'onnx'" in completed.stderr
