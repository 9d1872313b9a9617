"""Axon's training engine: multi-layer perceptrons by hand in NumPy (CuPy on a GPU).

Imports NumPy and pydantic only; the service and the worker build on it, never the other way.
"""

from .artefact import Model, Prediction
from .backend import DeviceUnavailableError, gpu_available
from .checkpoint import CheckpointMismatchError, checkpoint_epoch
from .data import DataError, infer_task
from .serialisation import FormatError
from .spec import DataShape, Limits, NetworkSpec, bind_spec, count_parameters
from .training import CheckpointHandle, DivergenceError, FitResult, fit

__all__ = [
    "CheckpointHandle",
    "CheckpointMismatchError",
    "DataError",
    "DataShape",
    "DeviceUnavailableError",
    "DivergenceError",
    "FitResult",
    "FormatError",
    "Limits",
    "Model",
    "NetworkSpec",
    "Prediction",
    "bind_spec",
    "checkpoint_epoch",
    "count_parameters",
    "fit",
    "gpu_available",
    "infer_task",
]
