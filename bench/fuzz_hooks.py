"""Schemathesis hooks for bench/fuzz.py (loaded through SCHEMATHESIS_HOOKS): real rows' ids and shapes.

Random ids only ever reach the 404; these hooks often swap in the ids of the rows bench/fuzz.py
seeded (``AXON_FUZZ_IDS``, JSON: name → ids), as tests/service/test_schemathesis.py does, and
often fit predict rows to the seeded model's feature count, so the operations do their real work too.
"""

from __future__ import annotations

import json
import os

import schemathesis
from hypothesis import strategies as st

IDS: dict[str, list[str]] = json.loads(os.environ["AXON_FUZZ_IDS"])
N_FEATURES = int(os.environ["AXON_FUZZ_N_FEATURES"])  # The seeded model's inputs per row.
PREDICT_OPERATIONS = {"POST /v1/models/{model_id}/predict", "POST /v1/jobs/{job_id}/predict"}


@schemathesis.hook
def before_generate_path_parameters(context, strategy):
    names = [name for name in IDS if f"{{{name}}}" in context.operation.path]
    if not names:
        return strategy
    return st.one_of(strategy, st.fixed_dictionaries({name: st.sampled_from(IDS[name]) for name in names}))


@schemathesis.hook
def flatmap_body(context, body):
    if context.operation.label == "POST /v1/jobs":
        return real_dataset(body)
    if context.operation.label in PREDICT_OPERATIONS:
        return model_shaped(body)
    return st.just(body)


def real_dataset(body):
    # A job for a real dataset gets past the 422 for an unknown dataset to the spec's own checks.
    # Only a string is replaced, so a body that is invalid for its dataset_id stays invalid.
    if not isinstance(body, dict) or not isinstance(body.get("dataset_id"), str):
        return st.just(body)
    return st.sampled_from([body, {**body, "dataset_id": IDS["dataset_id"][0]}])


def model_shaped(body):
    # Rows of any length are refused for the seeded model's feature count; cut or padded to it,
    # the numbers the fuzzer drew reach the model itself. Only lists of lists are reshaped, so
    # a body invalid for another reason stays invalid.
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs or not all(isinstance(row, list) for row in inputs):
        return st.just(body)
    rows = [(row + [0.0] * N_FEATURES)[:N_FEATURES] for row in inputs]
    return st.sampled_from([body, {**body, "inputs": rows}])
