"""Spec validation: defaults, field-naming errors, limits, and checks against the data."""

import pytest
from pydantic import ValidationError

from mlp import DataShape, Limits, NetworkSpec, bind_spec, count_parameters


def error_locations(payload, **context) -> list[tuple]:
    with pytest.raises(ValidationError) as caught:
        NetworkSpec.model_validate(payload, context=context or None)
    return [error["loc"] for error in caught.value.errors()]


def test_only_layers_is_required():
    spec = NetworkSpec.model_validate({"layers": [{"units": 4}]})
    # The tuned defaults (docs/learning.md): Adam at 0.01 for 200 epochs of 32-row batches.
    assert spec.optimizer.name == "adam" and spec.optimizer.learning_rate == 0.01
    assert spec.optimizer.betas == [0.9, 0.999] and spec.optimizer.eps == 1e-8
    assert (spec.epochs, spec.batch_size, spec.validation_split) == (200, 32, 0.1)
    assert spec.early_stopping is None
    assert spec.schedule.name == "constant" and spec.loss == "auto" and spec.init == "auto"
    assert spec.layers[0].activation == "relu" and spec.layers[0].dropout == 0
    assert spec.dtype == "float32" and spec.standardize and spec.standardize_targets
    stopping = NetworkSpec.model_validate({"layers": [], "early_stopping": {}}).early_stopping
    assert stopping.model_dump() == {"monitor": "auto", "patience": 10, "min_delta": 0.0, "restore_best": True}
    assert error_locations({}) == [("layers",)]


def test_pytorch_defaults_per_optimizer():
    def optimizer(name):
        return NetworkSpec.model_validate({"layers": [], "optimizer": name}).optimizer

    assert optimizer("sgd").learning_rate == 1e-3
    assert optimizer("momentum").momentum == 0.9
    assert optimizer("adamw").weight_decay == 1e-2
    assert (optimizer("rmsprop").learning_rate, optimizer("rmsprop").alpha) == (1e-2, 0.99)
    assert (optimizer("adagrad").learning_rate, optimizer("adagrad").eps) == (1e-2, 1e-10)


@pytest.mark.parametrize(
    "payload, location",
    [
        ({"layers": [{"units": 0}]}, ("layers", 0, "units")),
        ({"layers": [{"units": 4, "activation": "swish"}]}, ("layers", 0, "activation")),
        ({"layers": [{"units": 4, "dropout": 1.0}]}, ("layers", 0, "dropout")),
        ({"layers": [], "l2": float("nan")}, ("l2",)),
        ({"layers": [], "l1": float("inf")}, ("l1",)),
        ({"layers": [], "optimizer": {"name": "adam", "learning_rate": -1}}, ("optimizer", "adam", "learning_rate")),
        ({"layers": [], "optimizer": {"name": "lbfgs"}}, ("optimizer",)),
        ({"layers": [], "schedule": {"name": "step", "gamma": 0}}, ("schedule", "step", "gamma")),
        ({"layers": [], "validation_split": 1.0}, ("validation_split",)),
        ({"layers": [], "colour": "blue"}, ("colour",)),
        ({"layers": [], "validation_split": 0, "early_stopping": {"monitor": "val_loss"}}, ("early_stopping",)),
        ({"layers": [], "validation_split": 0, "schedule": {"name": "plateau"}}, ("schedule",)),
        ({"layers": [], "epochs": 5, "schedule": {"name": "cosine", "warmup_epochs": 5}}, ("schedule",)),
        ({"layers": [], "device": "tpu"}, ("device",)),
    ],
)
def test_invalid_values_name_their_field(payload, location):
    assert location in error_locations(payload)


def test_limits_are_configurable_and_named_in_the_message():
    limits = Limits(max_layers=2, max_units=16, max_epochs=10, max_batch_size=8)
    payload = {"layers": [{"units": 32}] * 2, "epochs": 11, "batch_size": 9}
    with pytest.raises(ValidationError) as caught:
        NetworkSpec.model_validate(payload, context={"limits": limits})
    messages = {error["loc"]: error["msg"] for error in caught.value.errors()}
    assert "max_units" in messages[("layers", 0, "units")] and "at most 16" in messages[("layers", 0, "units")]
    assert "max_epochs" in messages[("epochs",)]
    assert "max_batch_size" in messages[("batch_size",)]
    NetworkSpec.model_validate(payload)  # Within the default limits.
    too_deep = {"layers": [{"units": 4}] * 3}
    assert error_locations(too_deep, limits=limits) == [("layers",)]
    with pytest.raises(ValidationError, match=r"at most 2 hidden layers \(limit max_layers\)"):
        NetworkSpec.model_validate(too_deep, context={"limits": limits})


def test_parameter_limit_needs_the_data_shape():
    spec = NetworkSpec.model_validate({"layers": [{"units": 100}]})
    data = DataShape("classification", n_features=50, n_classes=3)
    assert count_parameters(spec.layers, 50, 3) == 51 * 100 + 101 * 3
    with pytest.raises(ValidationError, match="max_parameters"):
        bind_spec(spec, data, Limits(max_parameters=5000))
    assert bind_spec(spec, data, Limits(max_parameters=6000)) == spec


@pytest.mark.parametrize(
    "loss, data, ok",
    [
        ("mse", DataShape("classification", 2, 2), False),
        ("cross_entropy", DataShape("regression", 2, None), False),
        ("binary_cross_entropy", DataShape("classification", 2, 3), False),
        ("binary_cross_entropy", DataShape("classification", 2, 2), True),
        ("cross_entropy", DataShape("classification", 2, 2), True),
        ("huber", DataShape("regression", 2, None), True),
    ],
)
def test_explicit_loss_is_checked_against_the_task(loss, data, ok):
    spec = NetworkSpec.model_validate({"layers": [], "loss": loss})
    if ok:
        assert bind_spec(spec, data).loss == loss
    else:
        with pytest.raises(ValidationError) as caught:
            bind_spec(spec, data)
        assert caught.value.errors()[0]["loc"] == ("loss",)


def test_auto_loss_follows_the_task():
    spec = NetworkSpec.model_validate({"layers": []})
    assert spec.resolved_loss(DataShape("classification", 2, 2)) == "binary_cross_entropy"
    assert spec.resolved_loss(DataShape("classification", 2, 5)) == "cross_entropy"
    assert spec.resolved_loss(DataShape("regression", 2, None)) == "mse"


def test_monitor_must_belong_to_the_task():
    spec = NetworkSpec.model_validate({"layers": [], "early_stopping": {"monitor": "val_r2"}})
    with pytest.raises(ValidationError, match="not a classification metric"):
        bind_spec(spec, DataShape("classification", 2, 2))


def test_schema_is_json_schema_for_the_api():
    schema = NetworkSpec.model_json_schema()
    assert schema["required"] == ["layers"]
    assert set(schema["$defs"]["LayerSpec"]["properties"]["activation"]["enum"]) == {
        "linear", "relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid", "softplus",
    }
