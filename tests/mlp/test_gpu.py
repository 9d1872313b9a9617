"""The device switch: a clear error without a GPU, the CPU under auto, and the CuPy path where one exists."""

import numpy as np
import pytest

from mlp import DeviceUnavailableError, fit, gpu_available
from mlp.backend import get_backend

from tests.support.specs import make_spec

requires_gpu = pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")


@pytest.mark.skipif(gpu_available(), reason="this machine has a GPU")
def test_gpu_without_cupy_is_a_clear_error(spiral):
    with pytest.raises(DeviceUnavailableError, match="device 'gpu' needs CuPy"):
        fit(make_spec(device="gpu", epochs=1), *spiral)


@pytest.mark.skipif(gpu_available(), reason="this machine has a GPU")
def test_auto_falls_back_to_the_cpu(spiral):
    assert get_backend("auto").name == "cpu"
    assert fit(make_spec(device="auto", epochs=1), *spiral).history[0]["loss"] > 0


@pytest.mark.gpu
@requires_gpu
def test_gpu_training_matches_the_cpu_closely(spiral):
    spec = dict(epochs=20, dtype="float64", layers=[{"units": 16, "activation": "tanh"}])
    on_cpu = fit(make_spec(device="cpu", **spec), *spiral)
    on_gpu = fit(make_spec(device="gpu", **spec), *spiral)
    assert isinstance(on_gpu.model.params, np.ndarray)  # Artefacts come back to the host.
    np.testing.assert_allclose(on_gpu.model.params, on_cpu.model.params, rtol=1e-6, atol=1e-8)
    assert on_gpu.history[-1]["loss"] == pytest.approx(on_cpu.history[-1]["loss"], rel=1e-6)
    # The evaluation report is made on the device and comes back as plain host numbers.
    gpu_report, cpu_report = on_gpu.model.evaluation, on_cpu.model.evaluation
    assert gpu_report["confusion_matrix"] == cpu_report["confusion_matrix"]
    assert gpu_report["log_loss"] == pytest.approx(cpu_report["log_loss"], rel=1e-6)


@pytest.mark.gpu
@requires_gpu
def test_gpu_dropout_and_resume_run(spiral):
    spec = make_spec(device="gpu", epochs=6)
    saved = {}

    def stop_at_three(record, checkpoint):
        if record["epoch"] == 3:
            saved["blob"] = checkpoint.to_bytes()
            return True

    fit(spec, *spiral, callback=stop_at_three)
    resumed = fit(spec, *spiral, resume_from=saved["blob"])
    assert [r["epoch"] for r in resumed.history] == [4, 5, 6]
