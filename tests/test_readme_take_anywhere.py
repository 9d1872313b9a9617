"""The README's "Take a model anywhere" examples run as written and give what they say."""

from __future__ import annotations

import re

import numpy as np

from axon.onnx_export import to_onnx
from mlp import NetworkSpec, fit
from mlp.playground_data import GeneratorSpec, generate

from .test_readme import README


def python_examples() -> list[str]:
    section = README.split("## Take a model anywhere", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_section_has_the_onnx_and_the_scikit_learn_example():
    onnx_example, sklearn_example = python_examples()
    assert "onnxruntime.InferenceSession" in onnx_example and "AxonClassifier" in sklearn_example


def test_the_onnx_example_answers_as_predict(tmp_path, monkeypatch, capsys):
    data = generate(GeneratorSpec(kind="spiral", n_samples=200, seed=1))
    spec = NetworkSpec(layers=[{"units": 16, "activation": "tanh"}] * 2, epochs=20, device="cpu")
    model = fit(spec, data.features, data.targets).model
    (tmp_path / "model.onnx").write_bytes(to_onnx(model).SerializeToString())
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(python_examples()[0], namespace)
    expected = model.predict(namespace["rows"])
    assert namespace["labels"].tolist() == expected.predictions.tolist()
    np.testing.assert_allclose(namespace["probabilities"], expected.probabilities, rtol=1e-5,
                               atol=np.finfo(np.float32).eps)
    assert str(namespace["labels"]) in capsys.readouterr().out


def test_the_scikit_learn_example_searches_and_predicts(capsys):
    namespace: dict = {}
    exec(python_examples()[1], namespace)
    search = namespace["search"]
    assert len(search.cv_results_["params"]) == 4 and search.best_score_ > 0.9
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("{'activation': ") and len(printed) >= 2
