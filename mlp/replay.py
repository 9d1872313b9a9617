"""What training saw, rebuilt outside it: the rows it held out, and a checkpoint as a model.

A checkpoint holds the training state, not the standardisation of the data: that comes from the
data itself, prepared again exactly as training prepared it (same spec, same split). Pictures
drawn while a job trains (the dashboard's decision boundary) need both, without training.
"""

from __future__ import annotations

import numpy as np

from .artefact import Model, model_from_state
from .backend import CPU
from .checkpoint import load_checkpoint
from .data import encode_targets, split_indices
from .spec import DEFAULT_LIMITS, Limits, NetworkSpec, Task
from .state import prepare_data


def validation_rows(targets: np.ndarray, task: Task, validation_split: float, seed: int) -> np.ndarray:
    """(n_samples,) bool: the rows training holds out for validation from ``targets`` (n_samples,)."""
    _, held_out = split_indices(encode_targets(targets, task), validation_split, seed)
    flags = np.zeros(len(targets), dtype=bool)
    flags[held_out] = True
    return flags


def checkpoint_model(blob: bytes, spec: NetworkSpec, features: np.ndarray, targets: np.ndarray, task: Task,
                     limits: Limits = DEFAULT_LIMITS) -> Model:
    """The model of a checkpoint's weights, with the standardisation training computed for them.

    On the CPU whatever the spec's device: a picture needs no GPU, and the caller may have none.

    Parameters
    ----------
    blob : the checkpoint's bytes, written by a run of ``spec`` on this data.
    spec : the (bound) spec the run trained.
    features : (n_samples, n_features) the data's features.
    targets : (n_samples,) labels or values, (n_samples, n_targets) values, as training had them.

    Raises
    ------
    mlp.DataError, mlp.FormatError, mlp.CheckpointMismatchError
        The data, the bytes, or their spec and data do not fit.
    """
    data = prepare_data(spec, features, targets, task, limits, CPU)
    return model_from_state(load_checkpoint(blob, data, CPU))
