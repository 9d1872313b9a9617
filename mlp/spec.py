"""The network spec: one declarative pydantic model, validated once, at the boundary.

The HTTP API reuses these models, so its OpenAPI schema and this validation come from one source.
Limits live in :class:`Limits` and reach the validators through pydantic's validation context::

    NetworkSpec.model_validate(payload, context={"limits": Limits(max_units=512)})

Checks that need the data (the loss against the task, the total parameter count) run when the
context also carries a :class:`DataShape`; :func:`bind_spec` does that just before training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from .activations import ACTIVATIONS
from .initialisers import INITIALISERS
from .losses import LOSSES, TASK_OF_LOSS

Task = Literal["classification", "regression"]
ActivationName = Literal[tuple(ACTIVATIONS)]
InitName = Literal[("auto", *INITIALISERS)]
LossName = Literal[("auto", *LOSSES)]
Monitor = Literal["loss", "val_loss", "accuracy", "val_accuracy", "mae", "val_mae", "r2", "val_r2"]

# Metrics that improve upwards; every other monitor is minimised.
MAXIMISED = frozenset({"accuracy", "val_accuracy", "r2", "val_r2"})
METRICS_OF_TASK = {
    "classification": frozenset({"loss", "val_loss", "accuracy", "val_accuracy"}),
    "regression": frozenset({"loss", "val_loss", "mae", "val_mae", "r2", "val_r2"}),
}


class Limits(BaseModel):
    """Configurable ceilings on a spec; each violation names the field and the limit."""

    max_layers: int = Field(32, ge=0, description="Most hidden layers in a spec.")
    max_units: int = Field(4_096, ge=1, description="Most units in one hidden layer.")
    max_parameters: int = Field(20_000_000, ge=1, description="Most weights and biases in a network.")
    max_epochs: int = Field(100_000, ge=1, description="Most epochs in a spec.")
    max_batch_size: int = Field(65_536, ge=1, description="Largest batch size in a spec.")


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class DataShape:
    """What the data says about the network: the task and the sizes of its two ends."""

    task: Task
    n_features: int
    n_classes: int | None  # None for regression.
    n_targets: int = 1  # Regression outputs.


def _limits(info: ValidationInfo) -> Limits:
    return (info.context or {}).get("limits", DEFAULT_LIMITS)


def _data_shape(info: ValidationInfo) -> DataShape | None:
    return (info.context or {}).get("data")


class StrictModel(BaseModel):
    """Unknown fields and NaN/Inf are errors everywhere in the spec."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class LayerSpec(StrictModel):
    """One hidden layer."""

    units: int = Field(..., ge=1, description="Number of units.")
    activation: ActivationName = Field("relu", description="Activation after the affine map.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Inverted-dropout rate while training.")

    @field_validator("units")
    @classmethod
    def _within_unit_limit(cls, units: int, info: ValidationInfo) -> int:
        limit = _limits(info).max_units
        if units > limit:
            raise ValueError(f"at most {limit} units per layer (limit max_units), got {units}")
        return units


class _OptimizerBase(StrictModel):
    learning_rate: float = Field(1e-3, gt=0, description="Base learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty added to the gradient (PyTorch's weight_decay).")
    clip_norm: float | None = Field(None, gt=0, description="Clip gradients to this global L2 norm.")


class SGD(_OptimizerBase):
    """Plain stochastic gradient descent (``torch.optim.SGD`` without momentum)."""

    name: Literal["sgd"] = "sgd"


class Momentum(_OptimizerBase):
    """SGD with heavy-ball momentum (``torch.optim.SGD(momentum=...)``)."""

    name: Literal["momentum"] = "momentum"
    momentum: float = Field(0.9, ge=0, lt=1)
    dampening: float = Field(0.0, ge=0, le=1)


class Nesterov(_OptimizerBase):
    """SGD with Nesterov momentum (``torch.optim.SGD(momentum=..., nesterov=True)``)."""

    name: Literal["nesterov"] = "nesterov"
    momentum: float = Field(0.9, gt=0, lt=1)


class Adam(_OptimizerBase):
    """``torch.optim.Adam``."""

    name: Literal["adam"] = "adam"
    # A two-item list rather than a tuple: JSON has only arrays, and the API validates strictly.
    betas: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=2, max_length=2)] = [0.9, 0.999]
    eps: float = Field(1e-8, gt=0)
    amsgrad: bool = False


class AdamW(Adam):
    """``torch.optim.AdamW``: weight decay applied to the weights, not added to the gradient."""

    name: Literal["adamw"] = "adamw"
    weight_decay: float = Field(1e-2, ge=0, description="Decoupled weight decay.")


class RMSprop(_OptimizerBase):
    """``torch.optim.RMSprop``."""

    name: Literal["rmsprop"] = "rmsprop"
    learning_rate: float = Field(1e-2, gt=0)
    alpha: float = Field(0.99, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    centered: bool = False


class Adagrad(_OptimizerBase):
    """``torch.optim.Adagrad``."""

    name: Literal["adagrad"] = "adagrad"
    learning_rate: float = Field(1e-2, gt=0)
    lr_decay: float = Field(0.0, ge=0)
    initial_accumulator_value: float = Field(0.0, ge=0)
    eps: float = Field(1e-10, gt=0)


OptimizerSpec = Annotated[
    Union[SGD, Momentum, Nesterov, Adam, AdamW, RMSprop, Adagrad], Field(discriminator="name")
]


class ConstantSchedule(StrictModel):
    """The base learning rate every epoch."""

    name: Literal["constant"] = "constant"


class StepSchedule(StrictModel):
    """Multiply by ``gamma`` every ``step_size`` epochs (``StepLR``)."""

    name: Literal["step"] = "step"
    step_size: int = Field(10, ge=1)
    gamma: float = Field(0.1, gt=0, le=1)


class ExponentialSchedule(StrictModel):
    """Multiply by ``gamma`` every epoch (``ExponentialLR``)."""

    name: Literal["exponential"] = "exponential"
    gamma: float = Field(0.95, gt=0, le=1)


class CosineSchedule(StrictModel):
    """Linear warm-up, then cosine annealing to ``eta_min`` (``CosineAnnealingLR``)."""

    name: Literal["cosine"] = "cosine"
    t_max: int | None = Field(None, ge=1, description="Epochs of the half cosine after warm-up; default: the rest of the run.")
    eta_min: float = Field(0.0, ge=0)
    warmup_epochs: int = Field(0, ge=0)


class PlateauSchedule(StrictModel):
    """Multiply by ``factor`` after ``patience`` epochs without improvement (``ReduceLROnPlateau``)."""

    name: Literal["plateau"] = "plateau"
    monitor: Monitor = "val_loss"
    factor: float = Field(0.1, gt=0, lt=1)
    patience: int = Field(10, ge=0)
    threshold: float = Field(1e-4, ge=0, description="Relative improvement that counts.")
    min_lr: float = Field(0.0, ge=0)


ScheduleSpec = Annotated[
    Union[ConstantSchedule, StepSchedule, ExponentialSchedule, CosineSchedule, PlateauSchedule],
    Field(discriminator="name"),
]


class EarlyStopping(StrictModel):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    monitor: Literal["auto", Monitor] = Field("auto", description="auto: val_loss when the data has "
                                              "validation rows, else the training loss.")
    patience: int = Field(10, ge=1)
    min_delta: float = Field(0.0, ge=0)
    restore_best: bool = Field(True, description="End with the weights of the best epoch.")


class NetworkSpec(StrictModel):
    """Everything that defines a training run, apart from the data."""

    # The defaults of epochs and the optimizer were chosen from measurements over the playground's
    # shapes and scikit-learn's data sets (docs/learning.md): with them a spec naming only its
    # layers learns the spiral in a few seconds.
    layers: list[LayerSpec] = Field(..., description="Hidden layers, input side first.")
    loss: LossName = Field("auto", description="auto: cross_entropy (multiclass), "
                           "binary_cross_entropy (two classes) or mse (regression).")
    init: InitName = Field("auto", description="auto: He for the ReLU family, Glorot otherwise.")
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(32, ge=1)
    shuffle: bool = True
    seed: int = Field(0, ge=0, lt=2**63)
    validation_split: float = Field(0.1, ge=0, lt=1, description="Held-out fraction, stratified "
                                    "for classification; 0 means no validation set.")
    optimizer: OptimizerSpec = Field(default_factory=lambda: Adam(learning_rate=0.01),
                                     description="Default: Adam at learning rate 0.01 (an optimizer "
                                     "named without one takes PyTorch's default, 0.001 for Adam).")
    schedule: ScheduleSpec = Field(default_factory=ConstantSchedule)
    l1: float = Field(0.0, ge=0, description="L1 penalty on weights (not biases).")
    l2: float = Field(0.0, ge=0, description="L2 penalty 0.5 * l2 * |W|^2 on weights (not biases), "
                      "added to the mean batch loss; scikit-learn's alpha is l2 * batch_size.")
    # No stopping by default: the playground's shapes sit on plateaus for tens of epochs before they
    # learn (a spiral at lr 0.03, batch 10 for ~80), and a patience that waits through them is no
    # use to the small tabular sets that overfit (docs/learning.md).
    early_stopping: EarlyStopping | None = Field(None, description="Stop when a metric stops improving; "
                                                 "`{}` watches val_loss (the training loss without a "
                                                 "validation split) with patience 10.")
    standardize: bool = Field(True, description="Scale features by the training split's mean and std.")
    standardize_targets: bool = Field(True, description="Regression: train on targets scaled by the "
                                      "training split's mean and std (stored with the model and inverted "
                                      "at predict), so raw targets of any scale learn; predictions, mae and "
                                      "r2 are in the targets' own units, loss is on the scaled targets. "
                                      "Ignored for classification.")
    dtype: Literal["float32", "float64"] = "float32"
    device: Literal["cpu", "gpu", "auto"] = "auto"

    @field_validator("optimizer", "schedule", mode="before")
    @classmethod
    def _name_alone(cls, value: Any) -> Any:
        """Let ``"adam"`` stand for ``{"name": "adam"}``."""
        return {"name": value} if isinstance(value, str) else value

    @field_validator("layers", mode="before")
    @classmethod
    def _within_layer_count(cls, layers: Any, info: ValidationInfo) -> Any:
        # Before the items are validated, so a long list is refused without validating each entry.
        limit = _limits(info).max_layers
        if isinstance(layers, list) and len(layers) > limit:
            raise ValueError(f"at most {limit} hidden layers (limit max_layers), got {len(layers)}")
        return layers

    @field_validator("layers")
    @classmethod
    def _within_parameter_limit(cls, layers: list[LayerSpec], info: ValidationInfo) -> list[LayerSpec]:
        limits = _limits(info)
        data = _data_shape(info)
        if data is not None:
            n_parameters = count_parameters(layers, data.n_features, n_outputs(data))
            if n_parameters > limits.max_parameters:
                raise ValueError(
                    f"at most {limits.max_parameters} parameters (limit max_parameters), "
                    f"got {n_parameters} for {data.n_features} features"
                )
        return layers

    @field_validator("loss")
    @classmethod
    def _loss_fits_task(cls, loss: str, info: ValidationInfo) -> str:
        data = _data_shape(info)
        if data is None or loss == "auto":
            return loss
        if TASK_OF_LOSS[loss] != data.task:
            raise ValueError(f"loss '{loss}' does not fit a {data.task} task")
        if loss == "binary_cross_entropy" and data.n_classes != 2:
            raise ValueError(f"binary_cross_entropy needs exactly 2 classes, got {data.n_classes}")
        return loss

    @field_validator("epochs")
    @classmethod
    def _within_epoch_limit(cls, epochs: int, info: ValidationInfo) -> int:
        limit = _limits(info).max_epochs
        if epochs > limit:
            raise ValueError(f"at most {limit} epochs (limit max_epochs), got {epochs}")
        return epochs

    @field_validator("batch_size")
    @classmethod
    def _within_batch_limit(cls, batch_size: int, info: ValidationInfo) -> int:
        limit = _limits(info).max_batch_size
        if batch_size > limit:
            raise ValueError(f"batch_size at most {limit} (limit max_batch_size), got {batch_size}")
        return batch_size

    @field_validator("early_stopping")
    @classmethod
    def _early_stopping_can_see_monitor(cls, early_stopping: EarlyStopping | None, info: ValidationInfo):
        if early_stopping is not None:
            _check_monitor(early_stopping.monitor, info)
        return early_stopping

    @field_validator("schedule")
    @classmethod
    def _plateau_can_see_monitor(cls, schedule, info: ValidationInfo):
        if isinstance(schedule, PlateauSchedule):
            _check_monitor(schedule.monitor, info)
        epochs = info.data.get("epochs")
        if isinstance(schedule, CosineSchedule) and epochs and schedule.warmup_epochs >= epochs:
            raise ValueError(f"warmup_epochs ({schedule.warmup_epochs}) must be fewer than epochs ({epochs})")
        return schedule


    def resolved_loss(self, data: DataShape) -> str:
        """The loss ``"auto"`` stands for on this data, or the explicit choice."""
        if self.loss != "auto":
            return self.loss
        if data.task == "regression":
            return "mse"
        return "binary_cross_entropy" if data.n_classes == 2 else "cross_entropy"


def _check_monitor(monitor: str, info: ValidationInfo) -> None:
    """A monitored metric must exist: validation metrics need a validation split, and the task's."""
    if monitor == "auto":  # Resolved against the data when training starts: always exists.
        return
    # Fields validate in declaration order, so validation_split is known here unless it was invalid.
    if monitor.startswith("val_") and info.data.get("validation_split") == 0:
        raise ValueError(f"monitor '{monitor}' needs validation_split > 0")
    data = _data_shape(info)
    if data is not None and monitor not in METRICS_OF_TASK[data.task]:
        raise ValueError(f"monitor '{monitor}' is not a {data.task} metric")


def n_outputs(data: DataShape, loss: str = "auto") -> int:
    """Width of the output layer: 1 logit for binary cross-entropy, one per class otherwise."""
    if data.task == "regression":
        return data.n_targets
    if data.n_classes == 2 and loss in ("auto", "binary_cross_entropy"):
        return 1
    return data.n_classes


def count_parameters(layers: list[LayerSpec], n_features: int, n_out: int) -> int:
    """Weights and biases of the whole network."""
    sizes = [n_features, *(layer.units for layer in layers), n_out]
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


def bind_spec(spec: NetworkSpec, data: DataShape, limits: Limits = DEFAULT_LIMITS) -> NetworkSpec:
    """Validate ``spec`` again with the data's shape in view (loss vs task, parameter count).

    Raises
    ------
    pydantic.ValidationError
        Naming the offending field, as for any invalid spec.
    """
    return NetworkSpec.model_validate(
        spec.model_dump(), context={"limits": limits, "data": data}
    )
