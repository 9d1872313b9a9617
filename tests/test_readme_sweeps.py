"""The README's sweep space is one the API takes: it validates, and its trials apply to a spec."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mlp import NetworkSpec
from service.sweep_schemas import SweepCreate
from service.sweep_space import all_trial_values, apply_values

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_the_readme_space_validates_and_every_trial_is_a_valid_spec():
    section = README.split("## Hyperparameter sweeps", 1)[1]
    space = json.loads(re.search(r"```json\n(.*?)```", section, re.DOTALL).group(1))
    spec = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 20}
    body = SweepCreate.model_validate({"dataset_id": "x", "spec": spec, "space": space, "n_trials": 32})
    base = body.spec.model_dump(mode="json")
    for values in all_trial_values(body.space, body.strategy, body.seed, 32):
        trial = NetworkSpec.model_validate(apply_values(base, values))
        assert trial.optimizer.learning_rate == values["/optimizer/learning_rate"]
        assert 4 <= trial.layers[0].units <= 16
