"""What a training run will cost, before it runs: parameters, FLOPs per epoch, peak memory, checkpoint size.

The estimate counts the arrays the engine allocates, buffer by buffer, as :mod:`mlp.state`,
:mod:`mlp.network`, :mod:`mlp.optimizers`, :mod:`mlp.training` and :mod:`mlp.checkpoint` do:

- the data on the device (each split's features and loss targets, in the spec's dtype), and while
  it is prepared, the float64 copies standardisation makes;
- parameters and gradients, the optimizer's slots and scratch, the penalty scratch, the
  early-stopping copy of the best parameters;
- per row of the largest batch: each layer's output, each hidden layer's delta, GELU's saved
  pre-activations, dropout's masks and masked copies, the derivatives' scratch (as wide as the
  widest hidden layer) and a one for the bias gradients, the gathered batch and its targets and
  output delta; evaluation batches of up to ``EVALUATION_ROWS`` rows use the same buffers;
- the largest short-lived temporaries: an activation or its derivative on one layer, the loss on
  one batch, gradient clipping, the L1/L2 penalty, and the checkpoint's bytes (twice: the buffer
  and its copy);
- the arrays the caller holds: float64 features and targets.

The peak is the larger of data preparation and training. FLOPs count the matrix products only
(a multiply and an add are two), which is nearly all of an epoch's arithmetic for any network
wider than a few units. Pure: NumPy and pydantic only, and no array is allocated.
"""

from __future__ import annotations

import json

import numpy as np
from pydantic import BaseModel, Field

from .activations import NEEDS_PREACTIVATION
from .optimizers import OPTIMIZERS
from .spec import DataShape, NetworkSpec, count_parameters, n_outputs
from .training import EVALUATION_ROWS

# Temporaries, in arrays of one layer's (rows, units), an activation's forward and derivative
# allocate at once (counted from mlp.activations; NumPy reuses an operator's temporary in place).
ACTIVATION_TEMPORARIES = {
    "linear": (0, 0), "relu": (0, 1), "leaky_relu": (1, 2), "elu": (1, 1),
    "gelu": (2, 5), "tanh": (0, 2), "sigmoid": (0, 2), "softplus": (2, 2),
}
# Temporaries of one batch's loss, in arrays of (rows, outputs) (mlp.losses).
LOSS_TEMPORARIES = {"cross_entropy": 3, "binary_cross_entropy": 4, "mse": 2, "mae": 2, "huber": 4}
# np.unique(..., return_inverse=True) on the targets: sorted copy, order, flags, inverse.
UNIQUE_COPIES = 4
# Per array in an npz: the .npy header and the zip entry's local and central records.
NPZ_ENTRY_BYTES = 320
# The checkpoint's JSON beside the spec: epoch, fingerprint, schedule, early stopping.
CHECKPOINT_META_BYTES = 512


class Footprint(BaseModel):
    """The estimate of one training run."""

    parameters: int = Field(..., description="Weights and biases.")
    flops_per_epoch: int = Field(..., description="Floating-point operations of the matrix products "
                                 "in one epoch: training (forward and backward) and validation.")
    training_bytes: int = Field(..., description="Peak memory of the training process.")
    checkpoint_bytes: int = Field(..., description="Size of one checkpoint.")
    parts: dict[str, int] = Field(..., description="The peak's main parts in bytes: inputs, data, "
                                  "parameters, optimizer, batch (the layers' buffers), temporaries (an epoch's batch copies and the largest short-lived array, or the checkpoint's bytes).")


def split_sizes(n_samples: int, validation_split: float, n_classes: int | None) -> tuple[int, int]:
    """(training rows, validation rows): every class keeps at least one training row."""
    n_validation = int(round(validation_split * n_samples))
    n_validation = min(n_validation, n_samples - (n_classes or 1))
    return n_samples - max(n_validation, 0), max(n_validation, 0)


def estimate_footprint(spec: NetworkSpec, data: DataShape, n_samples: int) -> Footprint:
    """Estimate training ``spec`` on ``n_samples`` rows of ``data``.

    Parameters
    ----------
    spec : the network spec (validated; not bound again here).
    data : task, features, classes and targets of the data.
    n_samples : rows of the dataset, before the validation split.
    """
    itemsize = np.dtype(spec.dtype).itemsize
    n_features, n_out = data.n_features, n_outputs(data, spec.resolved_loss(data))
    sizes = [n_features, *(layer.units for layer in spec.layers), n_out]
    shapes = list(zip(sizes[:-1], sizes[1:]))
    n_parameters = count_parameters(spec.layers, n_features, n_out)
    n_weights = sum(fan_in * fan_out for fan_in, fan_out in shapes)
    n_train, n_validation = split_sizes(n_samples, spec.validation_split, data.n_classes)
    batch = min(spec.batch_size, n_train)
    evaluation = min(EVALUATION_ROWS, n_validation)
    rows = max(batch, evaluation)  # The network's buffers grow to the larger of the two.
    hidden = [layer.units for layer in spec.layers]
    loss = spec.resolved_loss(data)

    restore_best = spec.early_stopping is not None and spec.early_stopping.restore_best
    n_slots = len(OPTIMIZERS[spec.optimizer.name].slots(spec.optimizer))
    checkpoint_arrays = 1 + n_slots + restore_best
    meta = json.dumps(spec.model_dump(mode="json"))
    checkpoint_bytes = (checkpoint_arrays * n_parameters * itemsize + len(meta) + CHECKPOINT_META_BYTES
                        + (checkpoint_arrays + 1) * NPZ_ENTRY_BYTES)

    n_targets = 1 if data.task == "classification" else data.n_targets
    inputs = n_samples * (n_features + n_targets) * 8
    device_data = n_samples * (n_features + n_out) * itemsize
    parameters = (2 + restore_best) * n_parameters * itemsize + n_weights * itemsize  # + penalty scratch
    optimizer = (n_slots + 1) * n_parameters * itemsize
    buffers = rows * (sum(hidden) + n_out + sum(hidden)) * itemsize
    buffers += rows * sum(layer.units for layer in spec.layers if layer.activation in NEEDS_PREACTIVATION) * itemsize
    buffers += 2 * rows * sum(layer.units for layer in spec.layers if layer.dropout) * itemsize
    buffers += rows * (max(hidden, default=0) + 1) * itemsize  # The derivatives' scratch, the bias GEMV's ones.
    epoch_buffers = batch * (n_features + 2 * n_out) * itemsize + n_train * 8  # + the epoch's row order

    activation = max((batch * layer.units * max(ACTIVATION_TEMPORARIES[layer.activation]) * itemsize
                      for layer in spec.layers), default=0)
    loss_temporaries = rows * n_out * LOSS_TEMPORARIES[loss] * itemsize + 3 * rows * 8
    whole_vector = n_parameters * itemsize if spec.optimizer.clip_norm is not None or spec.l1 or spec.l2 else 0
    if spec.optimizer.name == "rmsprop" and spec.optimizer.centered:
        whole_vector = n_parameters * itemsize
    # During an epoch its batch buffers plus one short-lived array; after it, the checkpoint's bytes.
    temporaries = max(epoch_buffers + max(activation, loss_temporaries, whole_vector), 2 * checkpoint_bytes)
    training = inputs + device_data + parameters + optimizer + buffers + temporaries

    cast = itemsize if itemsize != 8 else 0  # A float64 split is its float64 rows, with no cast copy.
    # Preparing: encoding, the training split's float64 copy (standardisation's mean and std),
    # then the standardised float64 features and each split's float64 rows before the cast.
    preparing = inputs + max(UNIQUE_COPIES * n_samples * 8 + n_samples * n_out * 8,
                             2 * n_train * n_features * 8,
                             2 * n_samples * n_features * 8,
                             n_samples * n_features * 8 + (n_train * n_features + n_train * n_out) * (8 + cast))

    flops = 2 * (n_train * (3 * n_weights - shapes[0][0] * shapes[0][1]) + n_validation * n_weights)
    return Footprint(
        parameters=n_parameters,
        flops_per_epoch=flops,
        training_bytes=max(training, preparing),
        checkpoint_bytes=checkpoint_bytes,
        parts={"inputs": inputs, "data": device_data, "parameters": parameters, "optimizer": optimizer,
               "batch": buffers, "temporaries": temporaries},
    )
