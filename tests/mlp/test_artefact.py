"""The model artefact: round trip, prediction, bounded batches, refusals (never unpickles)."""

import io
import pickle

import numpy as np
import pytest

from mlp import DataError, FormatError, Model, fit
from mlp.artefact import PREDICT_BATCH_ROWS

from tests.support.specs import make_spec
from tests.support.threads import run_in_threads


@pytest.fixture(scope="module")
def binary_model(spiral):
    features, targets = spiral
    return fit(make_spec(epochs=5), features, targets).model


def test_round_trip_predicts_identically(binary_model, spiral):
    features, _ = spiral
    loaded = Model.from_bytes(binary_model.to_bytes())
    assert loaded.spec == binary_model.spec and loaded.classes == [0, 1]
    before, after = binary_model.predict(features), loaded.predict(features)
    assert np.array_equal(before.probabilities, after.probabilities)
    assert np.array_equal(before.predictions, after.predictions)
    assert loaded.metrics["epoch"] == 5


def test_binary_probabilities_are_two_columns(binary_model, spiral):
    prediction = binary_model.predict(spiral[0])
    assert prediction.probabilities.shape == (300, 2)
    np.testing.assert_allclose(prediction.probabilities.sum(axis=1), 1, rtol=1e-6)
    assert np.array_equal(prediction.predictions, prediction.probabilities.argmax(axis=1))


def test_batches_do_not_change_the_answer(binary_model, spiral):
    features = spiral[0]
    whole = binary_model.predict(features).probabilities
    batched = binary_model.predict(features, batch_rows=7).probabilities
    np.testing.assert_allclose(whole, batched, rtol=1e-6)


def test_default_chunks_give_the_one_pass_answer(binary_model):
    """More rows than one chunk (the default is small, for the cache): the same answer as one pass."""
    features = np.random.default_rng(3).normal(size=(PREDICT_BATCH_ROWS * 5 // 2, 2))
    chunked, whole = binary_model.predict(features), binary_model.predict(features, batch_rows=len(features))
    np.testing.assert_allclose(chunked.probabilities, whole.probabilities, rtol=1e-6)
    assert np.array_equal(chunked.predictions, whole.predictions)


def test_wrong_feature_count_is_a_clear_error(binary_model):
    with pytest.raises(DataError, match="expected rows of 2 features, got shape \\(3, 5\\)"):
        binary_model.predict(np.zeros((3, 5)))
    with pytest.raises(DataError, match="NaN"):
        binary_model.predict([[np.nan, 1.0]])
    with pytest.raises(DataError, match="too large"):
        binary_model.predict([[1e300, 1.0]])


def test_object_arrays_and_pickles_are_refused(binary_model):
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.frombuffer(b'{"format": "axon-model", "version": 1}', np.uint8),
             params=np.array([object()], dtype=object))
    with pytest.raises(FormatError, match="pickled"):
        Model.from_bytes(buffer.getvalue())
    with pytest.raises(FormatError):
        Model.from_bytes(pickle.dumps({"params": [1.0]}))
    with pytest.raises(FormatError, match="axon-model"):
        from mlp.checkpoint import save_checkpoint  # noqa: F401  (a checkpoint is not a model)
        Model.from_bytes(fit(make_spec(epochs=1), np.eye(4), [0, 1, 0, 1]).checkpoint.to_bytes())


def test_regression_with_several_targets(spiral):
    features = spiral[0]
    targets = np.column_stack([features.sum(axis=1), features[:, 0] - features[:, 1]])
    model = fit(make_spec(epochs=3, loss="huber"), features, targets).model
    prediction = Model.from_bytes(model.to_bytes()).predict(features[:4])
    assert prediction.predictions.shape == (4, 2) and prediction.probabilities is None


def test_threads_sharing_a_model_get_the_sequential_answers(spiral):
    """A cached model serves every thread of an API process: each answer must equal the one the
    same rows get alone. Batches of 1 to 400 rows, so threads overlap inside one forward pass."""
    features, targets = spiral
    model = fit(make_spec(epochs=3, layers=[{"units": 64, "activation": "tanh"}, {"units": 64, "activation": "gelu"}]),
                features, targets).model
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(int(rng.integers(1, 401)), 2)) for _ in range(64)]
    expected = [model.predict(batch).probabilities for batch in batches]
    wrong = []

    def predict_all(thread: int) -> None:
        for round_ in range(25):
            index = (thread * 7 + round_) % len(batches)
            if not np.array_equal(model.predict(batches[index]).probabilities, expected[index]):
                wrong.append(index)

    run_in_threads(predict_all, 8)
    assert wrong == []
