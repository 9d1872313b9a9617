"""TensorFlow Playground URLs in and out: the playground's state as a generator spec and a network spec.

The keys, their types and their defaults are the playground's own (``src/state.ts``: ``State.PROPS``
and the ``State`` class's initial values); values are parsed as its ``deserializeState`` parses them
(a boolean is false only when it reads ``false``; an empty value keeps the default). What the
playground means by each setting comes from ``src/playground.ts`` and ``src/nn.ts``: 500 points
for classification and 1200 for regression, noise in percent, ``percTrainData`` percent of the
shuffled points for training, plain SGD on the batch's mean gradient, the regularisation's
derivative times ``learningRate * regularizationRate`` taken off each weight after that step
(nn.ts ``updateWeights`` at commit bd89e3a; so the rate is Axon's ``l1`` or ``l2`` as it stands:
Axon adds ``0.5 * l2 * |W|^2``, gradient ``l2 * W``, or ``l1 * |W|`` to the mean batch loss; an
older nn.ts divided the penalty by the batch size, and only the playground's L1 sets a weight that
crosses zero to zero for good), weights from U(-0.5, 0.5) and biases at 0.1 (``init:
"playground"``), biases never regularised (as in Axon), raw coordinates with no standardisation.

This module holds no Flask: it turns text into :class:`Experiment` and back, and raises
:class:`PlaygroundError` listing every key it cannot take.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from urllib.parse import unquote

import numpy as np
from pydantic import ValidationError

from mlp import Limits, NetworkSpec

PLAYGROUND_URL = "https://playground.tensorflow.org/"

# Epochs of an imported job: the playground trains until stopped, a job needs an end. The classic
# circle (2-4-2-1 tanh, SGD at 0.03, batch 10) reaches 100% validation accuracy in Axon well
# before this (docs/benchmarks.md, "playground import"), and a 250-row epoch is milliseconds.
IMPORT_EPOCHS = 300

# The playground's sizes (playground.ts: NUM_SAMPLES_CLASSIFY, NUM_SAMPLES_REGRESS).
N_SAMPLES = {"classification": 500, "regression": 1200}

# playground name -> Axon generator kind; the names state.ts knows but Axon has no generator for.
DATASETS = {"circle": "circle", "xor": "xor", "gauss": "gauss", "spiral": "spiral"}
REG_DATASETS = {"reg-plane": "plane", "reg-gauss": "multigauss"}
KNOWN_UNSUPPORTED_REG_DATASETS = {"reg-maximum", "reg-argmax"}
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")  # state.ts: activations (same names in Axon).
REGULARIZATIONS = {"none": None, "L1": "l1", "L2": "l2"}
PROBLEMS = ("classification", "regression")

# Input features in the playground's order (playground.ts: INPUTS) -> Axon's feature names; cos
# has no Axon feature, so a URL that turns it on is refused.
FEATURE_KEYS = {"x": "x1", "y": "x2", "xSquared": "x1^2", "ySquared": "x2^2", "xTimesY": "x1*x2",
                "sinX": "sin(x1)", "cosX": None, "sinY": "sin(x2)", "cosY": None}

# Every key of State.PROPS, in its order (serialize() writes them in this order), with its default.
DEFAULTS: dict[str, object] = {
    "activation": "tanh", "regularization": None, "batchSize": 10, "dataset": "circle",
    "regDataset": "reg-plane", "learningRate": 0.03, "regularizationRate": 0.0, "noise": 0.0,
    "networkShape": [4, 2], "seed": None, "showTestData": False, "discretize": False, "percTrainData": 50.0,
    "x": True, "y": True, "xTimesY": False, "xSquared": False, "ySquared": False, "cosX": False,
    "sinX": False, "cosY": False, "sinY": False, "collectStats": False, "tutorial": None,
    "problem": "classification", "initZero": False, "hideText": False,
}
NUMBER_KEYS = {"batchSize", "learningRate", "regularizationRate", "noise", "percTrainData"}
BOOLEAN_KEYS = {"showTestData", "discretize", "collectStats", "initZero", "hideText", *FEATURE_KEYS}
# Keys that change only what the playground shows: taken, and they train nothing differently.
DISPLAY_KEYS = {"showTestData", "discretize", "collectStats", "tutorial", "hideText"}
HIDE_SUFFIX = "_hide"  # state.ts: "<control>_hide=true" hides a control of the page.

SEED_DIGITS = 5  # The playground draws seeds as Math.random().toFixed(5).
MAX_TEXT = 4096  # A playground URL is about 500 characters; far more is not one.


class PlaygroundError(ValueError):
    """Keys of a playground URL that cannot be imported; ``problems`` maps each key to why."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(f"{key}: {why}" for key, why in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class Experiment:
    """What a playground URL asks for, in Axon's terms."""

    generator: dict  # A GeneratorSpec body.
    spec: dict  # A NetworkSpec body.
    seed: str  # The playground's own seed text, which names the data in the playground.
    show_test_data: bool
    discretize: bool

    @property
    def dataset_name(self) -> str:
        """The dataset's name, which records the playground seed and data so a URL can be written back."""
        generator = self.generator
        return f"playground {generator['kind']} noise={fmt(round(generator['noise'] * 100, 6))} seed={self.seed}"


def fragment_of(text: str) -> str:
    """The state part of a pasted playground URL, or of a fragment given alone (with or without #)."""
    # Whitespace is never part of a state value; a URL wrapped across lines gets it by accident.
    text = re.sub(r"\s+", "", text)
    return text.split("#", 1)[1] if "#" in text else text


def parse(text: str) -> Experiment:
    """The experiment a playground URL (or its fragment) describes; :class:`PlaygroundError` if any key cannot be."""
    if len(text) > MAX_TEXT:
        raise PlaygroundError({"url": f"at most {MAX_TEXT} characters; a playground URL is far shorter"})
    raw: dict[str, str] = {}
    for pair in fragment_of(text).split("&"):
        if pair:
            name, _, value = pair.partition("=")
            raw[unquote(name)] = unquote(value)
    problems: dict[str, str] = {}
    state = _read_state(raw, problems)
    return _experiment(state, problems)  # Adds what the values cannot mean, then raises all at once.


def _read_state(raw: dict[str, str], problems: dict[str, str]) -> dict:
    """Every key's value, parsed as deserializeState does; unknown keys and bad values go in ``problems``."""
    state = dict(DEFAULTS)
    for name, value in raw.items():
        if name.endswith(HIDE_SUFFIX) and len(name) > len(HIDE_SUFFIX):
            continue  # state.ts takes any "<control>_hide": it hides a control of the page, trains nothing.
        if name not in DEFAULTS:
            problems[name] = "not a key of the TensorFlow Playground's state"
            continue
        if name == "networkShape":
            state[name] = _shape(value, problems)
        elif value.strip() == "":
            continue  # The playground keeps its default for an empty value.
        elif name in BOOLEAN_KEYS:
            state[name] = value != "false"
        elif name in NUMBER_KEYS:
            state[name] = _number(name, value, problems)
        else:
            state[name] = value
    if state["seed"] is None:  # As the playground does: a fresh seed, which the dataset's name keeps.
        state["seed"] = f"{random.random():.{SEED_DIGITS}f}"
    return state


def _shape(value: str, problems: dict[str, str]) -> list[int]:
    if value.strip() == "":
        return []  # No hidden layer: the inputs feed the output directly.
    units = []
    for part in value.split(","):
        if not part.isdigit() or int(part) < 1:
            problems["networkShape"] = f"hidden layer sizes must be positive whole numbers, got {value!r}"
            return []
        units.append(int(part))
    return units


def _number(name: str, value: str, problems: dict[str, str]) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not np.isfinite(number):
        problems[name] = f"not a number: {value!r}"
    return number


def _experiment(state: dict, problems: dict[str, str]) -> Experiment:
    problem = state["problem"]
    if problem not in PROBLEMS:
        raise PlaygroundError({**problems, "problem": f"{problem!r} is not one of {', '.join(PROBLEMS)}"})
    kind = _dataset_kind(state, problem, problems)
    if state["activation"] not in ACTIVATIONS:
        problems["activation"] = f"{state['activation']!r} is not one of {', '.join(ACTIVATIONS)}"
    regularization = state["regularization"]
    if regularization is not None and regularization not in REGULARIZATIONS:
        problems["regularization"] = f"{regularization!r} is not one of {', '.join(REGULARIZATIONS)}"
    if state["initZero"]:
        problems["initZero"] = "all-zero starting weights are not supported (Axon starts from U(-0.5, 0.5) as the playground does without it)"
    features = []
    for key, name in FEATURE_KEYS.items():
        if state[key]:
            if name is None:
                problems[key] = "Axon's playground datasets have no cosine feature (sin x1, sin x2 and the crosses are there)"
            else:
                features.append(name)
    if not features and not any(state[key] for key in FEATURE_KEYS):
        problems["x"] = "no input feature is on; turn on at least one of " + ", ".join(FEATURE_KEYS)
    _check_ranges(state, problems)
    if problems:
        raise PlaygroundError(problems)
    seed = state["seed"]
    numeric_seed = seed_number(seed)
    generator = {"kind": kind, "n_samples": N_SAMPLES[problem], "noise": state["noise"] / 100,
                 "seed": numeric_seed, "features": features}
    penalty = REGULARIZATIONS[regularization] if regularization is not None else None
    spec = {
        "layers": [{"units": units, "activation": state["activation"]} for units in state["networkShape"]],
        "optimizer": {"name": "sgd", "learning_rate": state["learningRate"]},
        "batch_size": int(state["batchSize"]),
        "validation_split": round(1 - state["percTrainData"] / 100, 6),
        "l1": state["regularizationRate"] if penalty == "l1" else 0.0,
        "l2": state["regularizationRate"] if penalty == "l2" else 0.0,
        "init": "playground", "standardize": False, "standardize_targets": False,
        "epochs": IMPORT_EPOCHS, "early_stopping": None, "seed": numeric_seed,
    }
    return Experiment(generator, spec, seed, bool(state["showTestData"]), bool(state["discretize"]))


def _dataset_kind(state: dict, problem: str, problems: dict[str, str]) -> str | None:
    if problem == "classification":
        name = state["dataset"]
        if name not in DATASETS:
            problems["dataset"] = f"{name!r} is not one of {', '.join(DATASETS)}"
        return DATASETS.get(name)
    name = state["regDataset"]
    if name not in REG_DATASETS:
        why = "has no Axon generator" if name in KNOWN_UNSUPPORTED_REG_DATASETS else "is not a playground dataset"
        problems["regDataset"] = f"{name!r} {why}; one of {', '.join(REG_DATASETS)}"
    return REG_DATASETS.get(name)


def _check_ranges(state: dict, problems: dict[str, str]) -> None:
    """Values the playground's controls cannot produce and Axon cannot train on."""
    checks = {
        "batchSize": (state["batchSize"] >= 1 and float(state["batchSize"]).is_integer(), "a whole number from 1"),
        "learningRate": (state["learningRate"] > 0, "above 0"),
        "regularizationRate": (state["regularizationRate"] >= 0, "0 or more"),
        "noise": (0 <= state["noise"] <= 100, "a percentage, 0 to 100"),
        "percTrainData": (1 <= state["percTrainData"] <= 99, "a percentage of training points, 1 to 99"),
    }
    for key, (good, wanted) in checks.items():
        if key not in problems and not good:
            problems[key] = f"must be {wanted}, got {fmt(state[key])}"


def seed_number(seed: str) -> int:
    """A seed for numpy from the playground's seed text: the same text, the same data and weights.

    The points are numpy's, not seedrandom's, so the same seed draws the same shape with other
    points than the playground's; a hash (not the digits) so that any text the playground
    accepts as a seed is taken.
    """
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:7], "big")


def fmt(value: float) -> str:
    """A number as JavaScript's String() writes it for the playground's values: 0.03, 10, 0.00001."""
    return np.format_float_positional(float(value), trim="-")


# ---- out: a job as a playground URL ------------------------------------------------------------

NAME_PATTERN = re.compile(r"playground (?P<kind>[a-z]+) noise=(?P<noise>[0-9.]+) seed=(?P<seed>\S+)")


def to_url(stored_spec: dict, task: str, dataset_name: str, feature_names: list[str] | None,
           limits: Limits) -> tuple[str | None, list[str]]:
    """(the playground URL of a job, []) or (None, the reasons the playground cannot express it).

    ``stored_spec`` is the job's stored spec; the dataset must be one this module's import made
    (its name records the playground's data: shape, noise and seed).
    """
    try:  # Complete, with every default, whatever wrote the row.
        spec = NetworkSpec.model_validate(stored_spec, context={"limits": limits}).model_dump(mode="json")
    except ValidationError as error:
        return None, [f"the job's spec cannot be read: {error.error_count()} invalid field(s)"]
    reasons = []
    named = NAME_PATTERN.fullmatch(dataset_name or "")
    if named is None:
        reasons.append("the dataset is not one a playground URL made (its name records the playground's data)")
    activations = {layer["activation"] for layer in spec["layers"]}
    if len(activations) > 1:
        reasons.append("the playground gives every hidden layer the same activation")
    if activations - set(ACTIVATIONS):
        reasons.append(f"the playground's activations are {', '.join(ACTIVATIONS)}")
    if any(layer.get("dropout") for layer in spec["layers"]):
        reasons.append("the playground has no dropout")
    if spec["optimizer"]["name"] != "sgd" or spec["optimizer"].get("clip_norm"):
        reasons.append("the playground trains with plain SGD")
    if spec["schedule"]["name"] != "constant":
        reasons.append("the playground's learning rate is constant")
    if spec["l1"] and spec["l2"]:
        reasons.append("the playground regularises with L1 or L2, not both")
    if not 0.01 <= spec["validation_split"] <= 0.99:
        reasons.append("the playground trains on 1% to 99% of the points")
    inputs = {name: key for key, name in FEATURE_KEYS.items() if name is not None}
    if not feature_names or set(feature_names) - set(inputs):
        reasons.append("the playground's inputs are x1, x2, x1^2, x2^2, x1*x2, sin(x1) and sin(x2)")
    kinds = {**{kind: name for name, kind in DATASETS.items()}, **{kind: name for name, kind in REG_DATASETS.items()}}
    if named is not None and named["kind"] not in kinds:
        reasons.append(f"the playground has no {named['kind']} dataset")
    if reasons:
        return None, reasons
    problem = task
    penalty, rate = ("L1", spec["l1"]) if spec["l1"] else ("L2", spec["l2"]) if spec["l2"] else (None, 0.0)
    on = {inputs[name] for name in feature_names}
    playground_name = kinds[named["kind"]]
    values: dict[str, object] = {
        "activation": spec["layers"][0]["activation"] if spec["layers"] else "tanh",
        "regularization": penalty,
        "batchSize": spec["batch_size"],
        "dataset": playground_name if problem == "classification" else DEFAULTS["dataset"],
        "regDataset": playground_name if problem == "regression" else DEFAULTS["regDataset"],
        "learningRate": spec["optimizer"]["learning_rate"],
        "regularizationRate": rate,
        "noise": float(named["noise"]),
        "networkShape": ",".join(str(layer["units"]) for layer in spec["layers"]),
        "seed": named["seed"],
        "showTestData": False, "discretize": False,
        "percTrainData": round((1 - spec["validation_split"]) * 100, 6),
        **{key: key in on for key in FEATURE_KEYS},
        "collectStats": False, "tutorial": None, "problem": problem, "initZero": False, "hideText": False,
    }
    # In State.PROPS order, missing values left out, as the playground's serialize() writes them.
    parts = [f"{key}={_text(values[key])}" for key in DEFAULTS if values[key] is not None]
    return PLAYGROUND_URL + "#" + "&".join(parts), []


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return fmt(value)
    return str(value)
