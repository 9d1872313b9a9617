"""A trained Axon model as an ONNX graph that onnxruntime (or any ONNX runtime) can serve.

The graph takes what ``Model.predict`` takes, raw rows, and gives what it gives:

    features       (n_rows, n_features) double: the input
    label          (n_rows,) int64 or string, the class labels     (classification)
    probabilities  (n_rows, n_classes) double, in classes' order    (classification)
    value          (n_rows,) or (n_rows, n_targets) double          (regression)

It is built from the artefact alone, with the same arithmetic in the same order as
``mlp.Model.predict``: the stored preprocessing in double, a cast to the network's dtype (float32
or float64), each layer's ``x @ W + b`` and activation, the output link, then Axon's reading of the
outputs. Only the ``onnx`` package's helpers build it; the engine ``mlp`` knows nothing of ONNX.
"""

from __future__ import annotations

import json
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# The activations' constants come from the engine: one source of each formula.
from mlp import ELU_ALPHA, GELU_C, GELU_K, LEAKY_RELU_SLOPE, Model

# Opset 21 (ONNX 1.16): onnxruntime loads it from 1.18 on, and no operator used here changed after it.
OPSET = 21
INPUT = "features"
NUMERIC_TYPE = {np.dtype("float32"): TensorProto.FLOAT, np.dtype("float64"): TensorProto.DOUBLE}


class ExportError(ValueError):
    """The model holds something this exporter cannot write as ONNX."""


class GraphBuilder:
    """Nodes and initialisers of one graph, with a fresh name for every tensor it makes."""

    def __init__(self, dtype: np.dtype):
        self.dtype = np.dtype(dtype)  # The network's arithmetic.
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = {INPUT}

    def fresh(self, stem: str) -> str:
        """``stem``, or ``stem_1``, ``stem_2``, ... when taken; the name is taken from then on."""
        name, count = stem, 1
        while name in self._names:
            name, count = f"{stem}_{count}", count + 1
        self._names.add(name)
        return name

    def constant(self, stem: str, values, dtype=None) -> str:
        """An initialiser holding ``values`` (in ``dtype``, default the network's)."""
        name = self.fresh(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(values, dtype=dtype or self.dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, output: str | None = None,
           **attributes) -> str:
        """Add one node; returns its output's name: ``output`` (a graph output's) or a fresh one."""
        if output is None:
            output = self.fresh(stem or op_type.lower())
        elif self.fresh(output) != output:
            raise ValueError(f"tensor name {output!r} is taken")
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=self.fresh(f"node_{output}"), **attributes))
        return output


# ---- preprocessing: raw rows -> the network's inputs -------------------------------------------
# Each stage maps the tensor of raw rows to the next, reading its parameters from the artefact, as
# Model.predict applies them, in order. Typed columns, when the artefact gains them, add their
# stages here, ahead of standardisation: imputation (ai.onnx.ml Imputer) and one-hot encoding
# (ai.onnx.ml OneHotEncoder, then Concat with the numeric columns).

def _standardise(graph: GraphBuilder, model: Model, rows: str) -> str:
    """(x - mean) / std in double, as Model.predict does, before the cast to the network's dtype."""
    centred = graph.op("Sub", [rows, graph.constant("mean", model.mean, np.float64)], "centred")
    return graph.op("Div", [centred, graph.constant("std", model.std, np.float64)], "standardised")


PREPROCESSING: tuple[Callable[[GraphBuilder, Model, str], str], ...] = (_standardise,)


# ---- hidden activations: one entry per entry of mlp.activations.ACTIVATIONS ---------------------
# Each writes Axon's own formula with its constants from mlp.activations. LeakyReLU, ELU and
# softplus are written with basic operators because onnxruntime has no float64 kernel for them,
# and GELU because onnxruntime's float64 Gelu strays from the formula by ~1e-8 (relative); the
# basic form follows mlp.activations step by step in either dtype.

def _leaky_relu(graph: GraphBuilder, z: str) -> str:
    # max(z, slope z), as mlp.activations computes it.
    scaled = graph.op("Mul", [z, graph.constant("leaky_slope", LEAKY_RELU_SLOPE)], "leaky_scaled")
    return graph.op("Max", [z, scaled], "leaky_relu")


def _elu(graph: GraphBuilder, z: str) -> str:
    # max(z, 0) + alpha (e^min(z, 0) - 1): each term is zero where the other applies. ONNX has no
    # expm1; e^x - 1 differs from it by a rounding of 1, far below what the next layer can see.
    zero = graph.constant("zero", 0.0)
    exponential = graph.op("Exp", [graph.op("Min", [z, zero], "elu_negative")], "elu_exp")
    tail = graph.op("Sub", [exponential, graph.constant("one", 1.0)], "elu_expm1")
    tail = graph.op("Mul", [tail, graph.constant("elu_alpha", ELU_ALPHA)], "elu_tail")
    return graph.op("Add", [graph.op("Relu", [z]), tail], "elu")


def _gelu(graph: GraphBuilder, z: str) -> str:
    # The tanh approximation, z (1 + tanh(c (z + k z^3))) / 2, in mlp.activations' order.
    cube = graph.op("Mul", [graph.op("Mul", [z, z], "gelu_square"), z], "gelu_cube")
    cubic = graph.op("Add", [z, graph.op("Mul", [graph.constant("gelu_k", GELU_K), cube], "gelu_k_cube")], "gelu_cubic")
    inner = graph.op("Tanh", [graph.op("Mul", [graph.constant("gelu_c", GELU_C), cubic], "gelu_scaled")], "gelu_tanh")
    inner = graph.op("Add", [inner, graph.constant("one", 1.0)], "gelu_sum")
    inner = graph.op("Mul", [inner, graph.constant("half", 0.5)], "gelu_gate")
    return graph.op("Mul", [z, inner], "gelu")


def _softplus(graph: GraphBuilder, z: str) -> str:
    # max(z, 0) + log(1 + e^-|z|), finite for every z (ONNX has no log1p; see _elu on expm1).
    decay = graph.op("Exp", [graph.op("Neg", [graph.op("Abs", [z])])], "softplus_decay")
    tail = graph.op("Log", [graph.op("Add", [decay, graph.constant("one", 1.0)], "softplus_sum")], "softplus_tail")
    return graph.op("Add", [graph.op("Relu", [z]), tail], "softplus")


ACTIVATION_NODES: dict[str, Callable[[GraphBuilder, str], str]] = {
    "linear": lambda graph, z: z,
    "relu": lambda graph, z: graph.op("Relu", [z]),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "gelu": _gelu,
    "tanh": lambda graph, z: graph.op("Tanh", [z]),
    "sigmoid": lambda graph, z: graph.op("Sigmoid", [z]),
    "softplus": _softplus,
}


def _network(graph: GraphBuilder, model: Model, inputs: str) -> str:
    """Every layer's ``x @ W + b``, each hidden one followed by its activation; the raw outputs."""
    network = model.network
    tensor = inputs
    for index, (weights, biases) in enumerate(zip(network.weights, network.biases)):
        product = graph.op("MatMul", [tensor, graph.constant(f"weights_{index}", weights)], f"product_{index}")
        tensor = graph.op("Add", [product, graph.constant(f"biases_{index}", biases)], f"z_{index}")
        if index < network.n_layers - 1:
            tensor = ACTIVATION_NODES[network.activations[index]](graph, tensor)
    return tensor


# ---- outputs: raw outputs -> what Model.predict returns -----------------------------------------

def _classification_outputs(graph: GraphBuilder, model: Model, logits: str, classes: list) -> None:
    if model.meta["loss"] == "binary_cross_entropy":
        # One sigmoid unit gives P(second class); Model.predict stacks [1 - p, p].
        positive = graph.op("Sigmoid", [logits], "positive")
        negative = graph.op("Sub", [graph.constant("one", [1.0]), positive], "negative")
        probabilities = graph.op("Concat", [negative, positive], "stacked", axis=1)
    else:
        probabilities = graph.op("Softmax", [logits], "softmax", axis=1)
    graph.op("Cast", [probabilities], output="probabilities", to=TensorProto.DOUBLE)
    # ArgMax keeps the first of equal maxima, as NumPy's argmax does.
    index = graph.op("ArgMax", [probabilities], "class_index", axis=1, keepdims=0)
    graph.op("Gather", [_class_labels(graph, classes), index], output="label", axis=0)


def _label_type(classes: list) -> int:
    """STRING or INT64: the ``label`` output's type; ONNX tensors hold one type."""
    if all(isinstance(label, str) for label in classes):
        return TensorProto.STRING
    if all(isinstance(label, int) and not isinstance(label, bool) for label in classes):
        return TensorProto.INT64
    raise ExportError(f"class labels must be all integers or all strings for ONNX, got {classes!r}")


def _class_labels(graph: GraphBuilder, classes: list) -> str:
    if _label_type(classes) == TensorProto.STRING:
        return graph.constant("classes", np.array([label.encode() for label in classes], dtype=object), object)
    return graph.constant("classes", classes, np.int64)


def _regression_outputs(graph: GraphBuilder, model: Model, outputs: str) -> None:
    values = graph.op("Cast", [outputs], "values", to=TensorProto.DOUBLE)
    # Models trained on standardised targets predict z * target_std + target_mean (float64 arrays).
    target_mean, target_std = getattr(model, "target_mean", None), getattr(model, "target_std", None)
    if target_std is not None:
        values = graph.op("Mul", [values, graph.constant("target_std", target_std, np.float64)], "scaled")
    if target_mean is not None:
        values = graph.op("Add", [values, graph.constant("target_mean", target_mean, np.float64)], "shifted")
    if model.network.layer_sizes[-1] == 1:  # One target: (n_rows,), as Model.predict returns it.
        graph.op("Squeeze", [values, graph.constant("target_axis", [1], np.int64)], output="value")
    else:
        graph.op("Identity", [values], output="value")


def _graph_outputs(model: Model, classes: list | None) -> list[onnx.ValueInfoProto]:
    rows = "n_rows"
    if model.task == "regression":
        n_targets = model.network.layer_sizes[-1]
        shape = [rows] if n_targets == 1 else [rows, n_targets]
        return [helper.make_tensor_value_info("value", TensorProto.DOUBLE, shape)]
    return [helper.make_tensor_value_info("label", _label_type(classes), [rows]),
            helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [rows, len(classes)])]


def to_onnx(model: Model, name: str = "axon-model", classes: list | None = None) -> onnx.ModelProto:
    """The ONNX model of ``model``: ``features`` in; ``label`` and ``probabilities``, or ``value``, out.

    ``classes`` puts other labels in ``label`` in place of ``model.classes``, one for one (the
    scikit-learn classifier's model learns indices into its ``classes_``). ``onnx.checker`` (with
    shape inference) has passed on what it returns.

    Raises
    ------
    ExportError
        The model uses an activation this exporter has no entry for, or labels that are neither
        all integers nor all strings, or ``classes`` does not match the model's count.
    """
    unknown = sorted(set(model.network.activations) - set(ACTIVATION_NODES))
    if unknown:
        raise ExportError(f"no ONNX form for the activation(s) {', '.join(unknown)}")
    if classes is None:
        classes = model.classes
    elif model.classes is None or len(classes) != len(model.classes):
        raise ExportError(f"classes must be {len(model.classes or [])} labels, one per class of the model")
    else:
        classes = list(classes)
    graph = GraphBuilder(model.network.dtype)
    rows = INPUT
    for stage in PREPROCESSING:
        rows = stage(graph, model, rows)
    outputs = _network(graph, model, graph.op("Cast", [rows], "inputs", to=NUMERIC_TYPE[graph.dtype]))
    if model.task == "regression":
        _regression_outputs(graph, model, outputs)
    else:
        _classification_outputs(graph, model, outputs, classes)
    features = helper.make_tensor_value_info(INPUT, TensorProto.DOUBLE, ["n_rows", model.n_features])
    proto = helper.make_model(
        helper.make_graph(graph.nodes, name, [features], _graph_outputs(model, classes), graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="axon",
        doc_string=f"Axon {model.task} model: {' -> '.join(map(str, model.network.layer_sizes))} "
                   f"({', '.join(model.network.activations) or 'no hidden layers'}), {graph.dtype.name}.",
    )
    proto.ir_version = helper.find_min_ir_version_for(proto.opset_import)
    helper.set_model_props(proto, {"axon.task": model.task, "axon.classes": json.dumps(classes),
                                   "axon.dtype": graph.dtype.name})
    onnx.checker.check_model(proto, full_check=True)
    return proto
