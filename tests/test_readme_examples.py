"""The README's training examples learn: its curl spec, its Python-client spec and its
``axon train`` line each reach held-out accuracy of at least 0.9.

Each example is read out of README.md itself (so an edit there is what gets tested), trained
through the engine on the dataset the example asks the server for, and scored on fresh points
drawn from the same generator with another seed.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from axon.cli_jobs import train, train_spec
from mlp import NetworkSpec, fit
from mlp.playground_data import GeneratorSpec, generate

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
FLOOR = 0.9
HELD_OUT_SEED = 12_345


def held_out_accuracy(generator: dict, spec: dict) -> float:
    train_data = generate(GeneratorSpec.model_validate(generator))
    test_data = generate(GeneratorSpec.model_validate({**generator, "seed": HELD_OUT_SEED, "n_samples": 2000}))
    model = fit(NetworkSpec.model_validate(spec), train_data.features, train_data.targets).model
    return float((model.predict(test_data.features).predictions == test_data.targets).mean())


def curl_example() -> tuple[dict, dict]:
    """The walk-through's dataset body and the job's spec, as the curl commands send them."""
    generator = json.loads(re.search(r"-d '(\{\"generator\".*?\})'", README).group(1))["generator"]
    job_body = re.search(r"/v1/jobs -H 'Content-Type: application/json' -d '(\{.*?\})'", README, re.DOTALL).group(1)
    return generator, json.loads(job_body.replace('"<DATASET>"', '"x"'))["spec"]


def python_example() -> tuple[dict, dict]:
    """The Python client example's generator and spec: Python literals (with a ``* 2``)."""
    generator = re.search(r"axon\.create_dataset\(generator=(\{.*?\})\)", README).group(1)
    spec = re.search(r"axon\.submit\(dataset\[\"id\"\], (\{.*\})\)", README).group(1)
    return eval(generator, {"__builtins__": {}}), eval(spec, {"__builtins__": {}})  # Our own README.


def cli_example() -> tuple[dict, dict]:
    """What ``axon train --generator ...`` in the README asks for, parsed by the command itself."""
    line = re.search(r"^axon (train --generator [^#\n]*)", README, re.MULTILINE).group(1)
    words = [word for word in shlex.split(line)[1:] if word not in ("--watch", "--wait")]
    with train.make_context("train", words) as context:
        options = context.params
    generator = {name: value for name, value in {
        "kind": options["kind"], "n_samples": options["samples"], "noise": options["noise"], "seed": options["seed"],
    }.items() if value is not None}
    spec = train_spec(options["layers"], options["epochs"], options["batch_size"], options["seed"],
                      options["optimizer"], options["learning_rate"])
    return generator, spec


@pytest.mark.slow
@pytest.mark.parametrize("example", [curl_example, python_example, cli_example], ids=lambda example: example.__name__)
def test_the_readme_example_learns(example):
    generator, spec = example()
    assert generator["kind"] == "spiral" and spec["layers"]  # The examples found are the ones meant.
    accuracy = held_out_accuracy(generator, {**spec, "device": "cpu"})
    print(f"\n{example.__name__}: generator {generator}, spec {spec}: held-out accuracy {accuracy:.3f}")
    assert accuracy >= FLOOR
