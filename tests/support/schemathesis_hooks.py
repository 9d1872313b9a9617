"""Schemathesis hooks that steer its requests to real rows, for the suite and for bench/fuzz.py.

Random ids only ever reach the 404; these often swap in the ids of seeded rows, and often fit
predict rows to the seeded model's feature count, so the operations do their real work too.
Each swap keeps the drawn value as one of its choices, so negative cases stay negative.
"""

from __future__ import annotations

from typing import Callable

from hypothesis import strategies as st

DATASET_OPERATIONS = {"POST /v1/jobs", "POST /v1/sweeps"}  # Bodies that name a dataset_id.
PREDICT_OPERATIONS = {"POST /v1/models/{model_id}/predict", "POST /v1/jobs/{job_id}/predict"}
# A schema-valid body can still be a 422 by design, as each of these operations documents: limits
# that come from settings (rows, units, parameters, epochs), an unknown dataset_id, a spec that
# cannot train on its dataset, ragged rows, a CSV without the target column or a wrong feature
# count at predict, a text that is not a playground URL the import can take, a label the model does
# not know or a dataset that does not fit the model at evaluate; or a 409 (a job
# without a model) or a 429 (the tenant's job cap). JSON Schema cannot say these, so
# positive_data_acceptance takes these statuses from these operations only; everywhere else a 422
# on valid data is still a failure.
SEMANTIC_REFUSALS = ["POST /v1/datasets", "POST /v1/jobs", "POST /v1/jobs/{job_id}/predict",
                     "POST /v1/models/{model_id}/predict", "POST /v1/jobs/from-playground",
                     "POST /v1/models/{model_id}/evaluate", "POST /v1/sweeps"]
ACCEPTED_REFUSALS = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]


def register(hook: Callable, ids: dict[str, list[str]], n_features: int) -> None:
    """Register the hooks with ``hook`` (``schema.hook``, or ``schemathesis.hook`` for every schema).

    Parameters
    ----------
    ids : path parameter name (``dataset_id``, ``job_id``, ``model_id``) -> ids of seeded rows.
    n_features : the seeded model's inputs per row.
    """

    @hook
    def before_generate_path_parameters(context, strategy):
        names = [name for name in ids if f"{{{name}}}" in context.operation.path]
        if not names:
            return strategy
        return st.one_of(strategy, st.fixed_dictionaries({name: st.sampled_from(ids[name]) for name in names}))

    @hook
    def flatmap_body(context, body):
        if context.operation.label in DATASET_OPERATIONS:
            return real_dataset(body, ids["dataset_id"][0])
        if context.operation.label in PREDICT_OPERATIONS:
            return model_shaped(body, n_features)
        return st.just(body)


def real_dataset(body, dataset_id: str):
    # A job (or sweep) for a real dataset gets past the 422 for an unknown dataset to the spec's own checks.
    # Only a string is replaced, so a body that is invalid for its dataset_id stays invalid.
    if not isinstance(body, dict) or not isinstance(body.get("dataset_id"), str):
        return st.just(body)
    return st.sampled_from([body, {**body, "dataset_id": dataset_id}])


def model_shaped(body, n_features: int):
    # Rows of any length are refused for the seeded model's feature count; cut or padded to it,
    # the numbers the fuzzer drew reach the model itself. Only lists of lists are reshaped, so
    # a body invalid for another reason stays invalid.
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs or not all(isinstance(row, list) for row in inputs):
        return st.just(body)
    rows = [(row + [0.0] * n_features)[:n_features] for row in inputs]
    return st.sampled_from([body, {**body, "inputs": rows}])
