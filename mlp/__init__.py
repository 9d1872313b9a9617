"""Axon's training engine: multi-layer perceptrons by hand in NumPy (CuPy on a GPU).

Imports NumPy and pydantic only; the service and the worker build on it, never the other way.
This module is the engine's public surface: ``service``, ``worker`` and ``axon`` import from
``mlp`` alone, never from its modules (tests/mlp/test_public_surface.py holds them to it).
"""

from .activations import ELU_ALPHA, GELU_C, GELU_K, LEAKY_RELU_SLOPE
from .activity import layer_outputs
from .artefact import Model, Prediction
from .backend import DeviceUnavailableError, gpu_available
from .checkpoint import CheckpointMismatchError, checkpoint_epoch
from .data import DataError, EncodedTargets, encode_targets, infer_task, split_indices
from .evaluation import classification_report, regression_report
from .footprint import Footprint, estimate_footprint
# The TensorFlow Playground's datasets (mlp/playground_data.py): generators and their input features.
from .playground_data import FEATURES, GENERATORS, GeneratedDataset, GeneratorSpec, generate
from .replay import checkpoint_model, validation_rows
from .serialisation import FormatError
from .spec import MAXIMISED, METRICS_OF_TASK, DataShape, Limits, Monitor, NetworkSpec, Task, bind_spec, count_parameters
from .training import CheckpointHandle, DivergenceError, FitResult, fit

__all__ = [
    "CheckpointHandle",
    "CheckpointMismatchError",
    "DataError",
    "DataShape",
    "DeviceUnavailableError",
    "DivergenceError",
    "ELU_ALPHA",
    "EncodedTargets",
    "FEATURES",
    "FitResult",
    "Footprint",
    "FormatError",
    "GELU_C",
    "GELU_K",
    "GENERATORS",
    "GeneratedDataset",
    "GeneratorSpec",
    "LEAKY_RELU_SLOPE",
    "Limits",
    "MAXIMISED",
    "METRICS_OF_TASK",
    "Model",
    "Monitor",
    "NetworkSpec",
    "Prediction",
    "Task",
    "bind_spec",
    "checkpoint_epoch",
    "checkpoint_model",
    "classification_report",
    "count_parameters",
    "encode_targets",
    "estimate_footprint",
    "fit",
    "generate",
    "gpu_available",
    "infer_task",
    "layer_outputs",
    "regression_report",
    "split_indices",
    "validation_rows",
]
