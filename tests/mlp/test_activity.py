"""mlp.activity.layer_outputs: every layer's outputs, against the closed form and Model.predict,
and the same answers from threads sharing one model as from one thread alone."""

from __future__ import annotations

import numpy as np

from mlp import fit
from mlp.activity import layer_outputs

from tests.support.specs import make_spec
from tests.support.threads import run_in_threads


def test_each_layer_is_its_closed_form_and_the_last_is_predict(spiral):
    features, targets = spiral
    spec = make_spec(epochs=3, dtype="float64",
                     layers=[{"units": 5, "activation": "tanh"}, {"units": 4, "activation": "relu"}])
    model = fit(spec, features, targets).model
    rows = features[:50]
    first, second, output = layer_outputs(model, rows)
    weights, biases = model.network.weights, model.network.biases
    expected_first = np.tanh(((rows - model.mean) / model.std) @ weights[0] + biases[0])
    expected_second = np.maximum(expected_first @ weights[1] + biases[1], 0)
    np.testing.assert_allclose(first, expected_first, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(second, expected_second, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(output, model.predict(rows).probabilities[:, 1:], rtol=1e-12, atol=1e-12)


def test_a_regression_output_is_in_the_targets_units(spiral):
    features = spiral[0]
    values = 100 + 50 * features[:, 0] - 20 * features[:, 1]  # Standardised for training, not in the answer.
    model = fit(make_spec(epochs=3, dtype="float64"), features, values).model
    np.testing.assert_allclose(layer_outputs(model, features[:20])[-1][:, 0], model.predict(features[:20]).predictions,
                               rtol=1e-12)


def test_threads_sharing_a_model_get_the_sequential_answers(spiral):
    """The API serves threads from one cached model: each answer must equal the one the same rows get alone."""
    features, targets = spiral
    model = fit(make_spec(epochs=3, layers=[{"units": 32, "activation": "gelu"}] * 3), features, targets).model
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(int(rng.integers(1, 2501)), 2)) for _ in range(24)]
    expected = [layer_outputs(model, batch) for batch in batches]
    wrong = []

    def compute_all(thread: int) -> None:
        for round_ in range(12):
            index = (thread * 5 + round_) % len(batches)
            answer = layer_outputs(model, batches[index])
            model.predict(batches[index])  # A predict in between, as on a busy API process.
            if not all(np.array_equal(got, want) for got, want in zip(answer, expected[index])):
                wrong.append(index)

    run_in_threads(compute_all, 6)
    assert wrong == []
