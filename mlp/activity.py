"""What every neuron of a model computes for a batch of inputs: the pictures of a network view.

Like :meth:`mlp.network.Network.infer` this is a fresh forward pass that touches none of the
network's training buffers, so threads may call it on one shared (cached) model.
"""

from __future__ import annotations

import numpy as np

from .artefact import Model
from .losses import LOSSES


def layer_outputs(model: Model, features: np.ndarray) -> list[np.ndarray]:
    """Each layer's outputs for raw ``features``, standardised as the model's training split was.

    Parameters
    ----------
    features : (n_samples, n_features) raw rows, as predict takes them.

    Returns
    -------
    One float64 (n_samples, width) host array per layer after the input: each hidden layer's
    activations, then the output layer through the loss's link (class probabilities, or values in
    the targets' units for regression).
    """
    network = model.network
    layers = network.infer_layers(network.backend.to_device((features - model.mean) / model.std, network.dtype))
    LOSSES[model.meta["loss"]].link(layers[-1])
    outputs = [np.asarray(network.backend.to_host(layer), dtype=np.float64) for layer in layers]
    if model.task == "regression":
        outputs[-1] = model.in_target_units(outputs[-1])
    return outputs
