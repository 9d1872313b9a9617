"""What every neuron of a model computes for a batch of inputs: the pictures of a network view.

Like :meth:`mlp.network.Network.infer` this is a fresh forward pass that touches none of the
network's training buffers, so threads may call it on one shared (cached) model.
"""

from __future__ import annotations

import numpy as np

from .activations import ACTIVATIONS
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
    xp = network.backend.xp
    layer_input = network.backend.to_device((features - model.mean) / model.std, network.dtype)
    outputs = []
    for i in range(network.n_layers):
        z = xp.matmul(layer_input, network.weights[i])
        z += network.biases[i]
        if i < network.n_layers - 1:
            ACTIVATIONS[network.activations[i]](z)
        else:
            LOSSES[model.meta["loss"]].link(z)
        outputs.append(np.asarray(network.backend.to_host(z), dtype=np.float64))
        layer_input = z
    if model.task == "regression" and model.target_std is not None:
        outputs[-1] = outputs[-1] * model.target_std + model.target_mean
    return outputs
