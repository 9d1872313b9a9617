"""ONNX exports judged by onnxruntime: every activation, task and dtype answers as ``Model.predict`` does.

The oracle is Axon's own predict on 10,000 rows the model never saw: labels equal, probabilities
and values within 1e-5 relative. Each also gets an absolute allowance of a few (``ROUNDING_UNITS``)
rounding units at the largest value of its output (the dtype's eps times it), about the finest a
float32 sum of terms of that size can hold a result near zero: a regression value that cancels to
1e-4, or the negative class of a two-class model, which Axon itself computes as ``1 - p``. One unit
was not enough: onnxruntime and NumPy add a layer's terms in different orders, each order rounds
its own way, and de-standardised regression targets carry that difference times their std (1.2
units seen on one of 10,000 rows, gelu float32). For float64 models the allowance is ~1e-15 and
the comparison is purely relative in effect.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest

from axon.onnx_export import ACTIVATION_NODES, OPSET, ExportError, to_onnx
from mlp import DataError, Model, NetworkSpec, fit
from mlp.activations import ACTIVATIONS
from tests.support.isolation import import_with_blocked

N_CHECKED_ROWS = 10_000
# Features on very different scales and offsets, so a graph without the standardisation is wrong.
SCALES, OFFSETS = np.array([1.0, 10.0, 0.1, 100.0]), np.array([0.0, 50.0, -3.0, 1000.0])


def raw_rows(n_rows: int, seed: int, spread: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n_rows, len(SCALES))) * SCALES * spread + OFFSETS


def signal(rows: np.ndarray) -> np.ndarray:
    standard = (rows - OFFSETS) / SCALES
    return standard[:, 0] + standard[:, 1] - 0.5 * standard[:, 3]


TRAINING_ROWS = raw_rows(300, seed=1)
TARGETS = {
    "binary": (signal(TRAINING_ROWS) > 0).astype(int),
    "multiclass": np.array(["low", "mid", "high", "top"])[np.digitize(signal(TRAINING_ROWS), [-1.0, 0.0, 1.0])],
    "regression": signal(TRAINING_ROWS) + np.sin(TRAINING_ROWS[:, 2] * 10),
}
# A wider spread than training: the export must hold up where the network extrapolates too.
CHECKED_ROWS = raw_rows(N_CHECKED_ROWS, seed=2, spread=1.5)


def train(task: str, activation: str, dtype: str, **spec_fields) -> Model:
    fields = {"layers": [{"units": 16, "activation": activation}, {"units": 8, "activation": activation}],
              "epochs": 4, "batch_size": 16, "optimizer": {"name": "adam", "learning_rate": 0.02},
              "dtype": dtype, "device": "cpu", "seed": 3, **spec_fields}
    return fit(NetworkSpec.model_validate(fields), TRAINING_ROWS, TARGETS[task]).model


def run_onnx(model: Model, rows: np.ndarray = CHECKED_ROWS) -> dict[str, np.ndarray]:
    """The exported model's outputs by name, as onnxruntime computes them (after onnx.checker passed)."""
    blob = to_onnx(model).SerializeToString()
    onnx.checker.check_model(onnx.load_model_from_string(blob), full_check=True)
    session = onnxruntime.InferenceSession(blob, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, {"features": rows})))


ROUNDING_UNITS = 4


def assert_close(got: np.ndarray, expected: np.ndarray, dtype) -> None:
    """Within 1e-5 relative, or a few rounding units of the output's largest value (see the module's docstring)."""
    assert got.shape == expected.shape
    allowance = ROUNDING_UNITS * np.finfo(dtype).eps * np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=allowance)


def assert_same_answers(model: Model, outputs: dict[str, np.ndarray], rows: np.ndarray = CHECKED_ROWS) -> None:
    expected = model.predict(rows)
    if model.task == "regression":
        assert set(outputs) == {"value"}
        assert_close(outputs["value"], expected.predictions, model.network.dtype)
        return
    assert set(outputs) == {"label", "probabilities"}
    assert outputs["label"].shape == expected.predictions.shape == (len(rows),)
    assert outputs["label"].tolist() == expected.predictions.tolist()
    assert_close(outputs["probabilities"], expected.probabilities, model.network.dtype)


def test_the_exporter_and_the_estimators_need_no_service():
    blocked = ("flask", "celery", "sqlalchemy", "kombu", "redis", "alembic", "service", "worker")
    completed = import_with_blocked("import axon.onnx_export, axon.sklearn", blocked)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_every_axon_activation_has_an_onnx_form():
    assert set(ACTIVATION_NODES) == set(ACTIVATIONS)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_onnxruntime_answers_as_axon_predicts(activation, task, dtype):
    model = train(task, activation, dtype)
    outputs = run_onnx(model)
    assert_same_answers(model, outputs)
    if task != "regression":  # Not a degenerate model: it tells the classes apart.
        assert len(set(outputs["label"].tolist())) == len(model.classes)


@pytest.mark.parametrize("spec_fields", [
    {"loss": "cross_entropy"},  # Two classes through a softmax of two outputs, not one sigmoid unit.
    {"standardize": False},
    {"layers": []},  # No hidden layer: logistic regression.
    {"layers": [{"units": 4, "activation": "gelu"}, {"units": 4, "activation": "softplus"},
                {"units": 4, "activation": "leaky_relu"}, {"units": 4, "activation": "elu"}]},
    {"layers": [{"units": 16, "activation": "relu", "dropout": 0.5}]},  # Dropout is training's only.
], ids=["binary-softmax", "unstandardised", "no-hidden-layer", "mixed-activations", "dropout"])
def test_other_shapes_of_classifier(spec_fields):
    model = train("binary", "relu", "float32", **spec_fields)
    assert_same_answers(model, run_onnx(model))


def test_several_regression_targets_come_out_as_columns():
    targets = np.c_[TARGETS["regression"], TRAINING_ROWS[:, 1]]
    spec = NetworkSpec(layers=[{"units": 8, "activation": "tanh"}], epochs=3, dtype="float64", device="cpu")
    model = fit(spec, TRAINING_ROWS, targets).model
    outputs = run_onnx(model)
    assert outputs["value"].shape == (N_CHECKED_ROWS, 2)
    assert_same_answers(model, outputs)


@pytest.mark.parametrize("n_targets", [1, 2])
def test_target_standardisation_is_undone_in_the_graph(n_targets):
    """The engine trains regression on standardised targets and predicts network output * target_std
    + target_mean: the graph does the same, and without that map its values would be far off."""
    targets = np.c_[TARGETS["regression"] * 12.5 + 40.0, TRAINING_ROWS[:, 1] * 0.25 - 7.0][:, :n_targets]
    spec = NetworkSpec(layers=[{"units": 8, "activation": "relu"}], epochs=3, dtype="float32", device="cpu")
    model = fit(spec, TRAINING_ROWS, targets).model
    assert model.target_std.shape == (n_targets,) and not np.allclose(model.target_std, 1.0)
    got = run_onnx(model)["value"]
    assert_close(got, model.predict(CHECKED_ROWS).predictions, model.network.dtype)
    model.target_mean = model.target_std = None  # The network's own outputs, unscaled.
    assert not np.allclose(got, run_onnx(model)["value"], rtol=1e-2)


def test_integer_labels_come_out_as_int64_and_strings_as_strings():
    integer_model, string_model = train("binary", "tanh", "float64"), train("multiclass", "tanh", "float64")
    integer_labels, string_labels = run_onnx(integer_model)["label"], run_onnx(string_model)["label"]
    assert integer_labels.dtype == np.int64 and set(integer_labels.tolist()) == {0, 1}
    assert set(string_labels.tolist()) == {"low", "mid", "high", "top"}
    unicode_labels = np.where(TARGETS["binary"] == 1, "café", "naïve 🐍")
    spec = NetworkSpec(layers=[{"units": 4, "activation": "tanh"}], epochs=3, device="cpu")
    unicode_model = fit(spec, TRAINING_ROWS, unicode_labels).model
    assert_same_answers(unicode_model, run_onnx(unicode_model))  # UTF-8 in, the same strings out.


def test_the_graph_is_self_describing():
    model = train("multiclass", "relu", "float32")
    proto = to_onnx(model, name="a-model")
    assert proto.graph.name == "a-model" and proto.producer_name == "axon"
    assert [(opset.domain, opset.version) for opset in proto.opset_import] == [("", OPSET)]
    assert [value.name for value in proto.graph.input] == ["features"]
    assert [value.name for value in proto.graph.output] == ["label", "probabilities"]
    properties = {entry.key: entry.value for entry in proto.metadata_props}
    assert properties == {"axon.task": "classification", "axon.classes": '["high", "low", "mid", "top"]',
                          "axon.dtype": "float32"}


def test_a_loaded_artefact_exports_the_same_graph():
    model = train("binary", "gelu", "float32")
    assert to_onnx(Model.from_bytes(model.to_bytes())).SerializeToString() == to_onnx(model).SerializeToString()


def test_a_row_predict_refuses_comes_out_of_the_graph_as_nan():
    """The difference the README states: Axon refuses a NaN row; a graph cannot refuse, it answers NaN."""
    model = train("multiclass", "relu", "float32")
    rows = CHECKED_ROWS[:3].copy()
    rows[1, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        model.predict(rows)
    probabilities = run_onnx(model, rows)["probabilities"]
    assert np.isnan(probabilities[1]).all() and np.isfinite(probabilities[[0, 2]]).all()
    assert_close(probabilities[[0, 2]], model.predict(rows[[0, 2]]).probabilities, np.float32)


def test_other_labels_replace_the_models_one_for_one():
    model = train("binary", "tanh", "float64")
    relabelled = onnxruntime.InferenceSession(to_onnx(model, classes=["no", "yes"]).SerializeToString(),
                                              providers=["CPUExecutionProvider"])
    labels = relabelled.run(["label"], {"features": CHECKED_ROWS})[0]
    assert labels.tolist() == np.array(["no", "yes"])[model.predict(CHECKED_ROWS).predictions].tolist()
    with pytest.raises(ExportError, match="classes must be 2 labels"):
        to_onnx(model, classes=["no", "yes", "maybe"])
