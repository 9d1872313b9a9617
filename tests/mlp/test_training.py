"""The training loop end to end: learning, records, determinism, resume, divergence, early stopping."""

import numpy as np
import pytest

from mlp import CheckpointMismatchError, DivergenceError, Model, checkpoint_epoch, fit
from mlp.data import encode_targets, split_indices
from mlp.serialisation import pack, unpack
from mlp.state import start

from tests.support.specs import make_spec


def test_learns_the_spiral_and_reports_every_epoch(spiral):
    features, targets = spiral
    spec = make_spec(
        epochs=250, layers=[{"units": 16, "activation": "tanh"}] * 2, batch_size=10,
        optimizer={"name": "adam", "learning_rate": 0.03},
    )
    result = fit(spec, features, targets)
    assert [record["epoch"] for record in result.history] == list(range(1, 251))
    last = result.history[-1]
    assert set(last) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"}
    assert last["accuracy"] > 0.95 and last["val_accuracy"] > 0.9
    assert result.history[0]["loss"] > 2 * last["loss"]
    assert result.stop_reason == "completed"


def test_regression_records_mae_and_r2():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 3))
    targets = features @ np.array([1.0, -2.0, 0.5]) + 0.05 * rng.normal(size=400)
    result = fit(make_spec(epochs=40, layers=[{"units": 16}]), features, targets)
    last = result.history[-1]
    assert set(last) >= {"mae", "r2", "val_mae", "val_r2"}
    assert last["val_r2"] > 0.95
    predicted = result.model.predict(features).predictions
    assert predicted.shape == (400,)
    assert np.mean((predicted - targets) ** 2) < 0.1


def test_same_seed_gives_bit_identical_weights(spiral):
    features, targets = spiral
    first = fit(make_spec(), features, targets)
    second = fit(make_spec(), features, targets)
    assert first.model.params.tobytes() == second.model.params.tobytes()
    assert [r["loss"] for r in first.history] == [r["loss"] for r in second.history]
    other_seed = fit(make_spec(seed=1), features, targets)
    assert first.model.params.tobytes() != other_seed.model.params.tobytes()


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "nesterov"])
def test_resume_after_epoch_k_is_bit_identical(spiral, optimizer):
    """Stop after epoch 5 through the callback, resume from its checkpoint, end where an
    uninterrupted run ends: weights, optimizer moments, schedule and early stopping all restored."""
    features, targets = spiral
    spec = make_spec(
        optimizer={"name": optimizer, "learning_rate": 0.01},
        schedule={"name": "plateau", "patience": 1, "monitor": "val_loss"},
        early_stopping={"monitor": "val_accuracy", "patience": 50},
    )
    uninterrupted = fit(spec, features, targets)

    saved = {}

    def stop_after_five(record, checkpoint):
        if record["epoch"] == 5:
            saved["blob"] = checkpoint.to_bytes()
            return True
        return False

    interrupted = fit(spec, features, targets, callback=stop_after_five)
    assert interrupted.stop_reason == "callback" and len(interrupted.history) == 5
    assert checkpoint_epoch(saved["blob"]) == 5
    resumed = fit(spec, features, targets, resume_from=saved["blob"])
    assert [r["epoch"] for r in resumed.history] == list(range(6, 13))
    assert resumed.model.params.tobytes() == uninterrupted.model.params.tobytes()
    for before, after in zip(uninterrupted.history[5:], resumed.history):
        assert {k: v for k, v in before.items() if k != "seconds"} == {k: v for k, v in after.items() if k != "seconds"}


def stopped_at(spec, features, targets, epoch: int) -> bytes:
    """The checkpoint after ``epoch`` of a run stopped there through the callback."""
    saved = {}

    def stop(record, checkpoint):
        if record["epoch"] == epoch:
            saved["blob"] = checkpoint.to_bytes()
            return True
        return False

    fit(spec, features, targets, callback=stop)
    return saved["blob"]


@pytest.mark.parametrize("optimizer", [{"name": "adam", "amsgrad": True},
                                       {"name": "rmsprop", "centered": True, "momentum": 0.5}])
def test_resume_restores_the_slots_an_option_adds(spiral, optimizer):
    features, targets = spiral
    spec = make_spec(optimizer={**optimizer, "learning_rate": 0.01})
    uninterrupted = fit(spec, features, targets)
    resumed = fit(spec, features, targets, resume_from=stopped_at(spec, features, targets, 5))
    assert resumed.model.params.tobytes() == uninterrupted.model.params.tobytes()


def test_a_checkpoint_holds_no_unused_slot_and_older_ones_with_it_still_resume(spiral):
    """Adam without amsgrad keeps no running maximum: a checkpoint is weights + two moments.
    Checkpoints written before slots were allocated on demand hold that maximum, all zeros; they load."""
    features, targets = spiral
    spec = make_spec(layers=[{"units": 64}, {"units": 64}])  # Adam, amsgrad off; the arrays outweigh the header.
    blob = stopped_at(spec, features, targets, 5)
    meta, arrays = unpack(blob, "axon-checkpoint", 1)
    assert {name.split(".")[1] for name in arrays if name.startswith("optimizer.")} == {"exp_avg", "exp_avg_sq"}
    older = pack(meta, {**arrays, "optimizer.max_exp_avg_sq.0": np.zeros_like(arrays["params"])})
    assert len(older) - len(blob) >= arrays["params"].nbytes
    assert len(blob) < 0.8 * len(older)  # The unused slot was a quarter of the checkpoint.
    uninterrupted = fit(spec, features, targets)
    for checkpoint in (blob, older):
        resumed = fit(spec, features, targets, resume_from=checkpoint)
        assert resumed.model.params.tobytes() == uninterrupted.model.params.tobytes()


def test_checkpoint_refuses_other_spec_or_data(spiral):
    features, targets = spiral
    blob = fit(make_spec(epochs=2), features, targets).checkpoint.to_bytes()
    with pytest.raises(CheckpointMismatchError, match="spec"):
        fit(make_spec(epochs=3, seed=5), features, targets, resume_from=blob)
    with pytest.raises(CheckpointMismatchError, match="data"):
        fit(make_spec(epochs=2), features + 1, targets, resume_from=blob)


def test_the_data_fingerprint_is_hashed_only_for_a_checkpoint_and_as_before(spiral, monkeypatch):
    """Hashing the data costs a third of a short run's start, so it waits for a checkpoint; the
    hash is the one checkpoints written before carry (pinned), so they still resume."""
    hashed = []
    monkeypatch.setattr("mlp.state.fingerprint", lambda *arrays: hashed.append(arrays) or "f")
    result = fit(make_spec(epochs=2), *spiral)
    assert hashed == []
    result.checkpoint.to_bytes()
    result.checkpoint.to_bytes()
    assert len(hashed) == 1  # Once a run, however many checkpoints.
    monkeypatch.undo()
    spec = make_spec(epochs=1, validation_split=0.5, standardize=False)
    features, labels = np.arange(12, dtype=np.float32).reshape(6, 2), ["b", "a"] * 3
    assert start(spec, features, labels)[0].fingerprint == "67989a3086454945"
    assert start(spec, features.tolist(), labels)[0].fingerprint == "67989a3086454945"


def test_huge_learning_rate_diverges_with_the_epoch(spiral):
    features, targets = spiral
    spec = make_spec(optimizer={"name": "sgd", "learning_rate": 1e30}, layers=[{"units": 8, "activation": "relu"}])
    seen = []
    with pytest.raises(DivergenceError) as caught:
        fit(spec, features, targets, callback=lambda record, _: seen.append(record))
    assert caught.value.epoch == len(seen) + 1
    assert f"diverged at epoch {caught.value.epoch}" in str(caught.value)
    for record in seen:
        assert all(np.isfinite(v) for v in record.values() if isinstance(v, float))


def test_early_stopping_restores_the_best_weights():
    """Noise labels: validation loss bottoms out early, then rises as the net memorises."""
    rng = np.random.default_rng(3)
    features = rng.normal(size=(200, 5))
    targets = rng.integers(0, 2, size=200)
    spec = make_spec(
        epochs=300,
        layers=[{"units": 64, "activation": "relu"}],
        validation_split=0.3,
        early_stopping={"monitor": "val_loss", "patience": 5},
    )
    snapshots = {}

    def keep(record, checkpoint):
        snapshots[record["epoch"]] = checkpoint.to_bytes()

    result = fit(spec, features, targets, callback=keep)
    assert result.stop_reason == "early_stopping"
    assert len(result.history) < 300
    val_losses = {r["epoch"]: r["val_loss"] for r in result.history}
    best_epoch = min(val_losses, key=val_losses.get)
    assert result.best_epoch == best_epoch
    assert len(result.history) == best_epoch + 5
    from mlp.checkpoint import load_checkpoint

    data, backend = start(spec, features, targets)
    best_state = load_checkpoint(snapshots[best_epoch], data, backend)
    assert np.array_equal(result.model.params, best_state.network.params)
    last_state = load_checkpoint(snapshots[len(result.history)], data, backend)
    assert not np.array_equal(result.model.params, last_state.network.params)


def test_no_validation_set_means_no_val_metrics(spiral):
    features, targets = spiral
    result = fit(make_spec(validation_split=0, epochs=2), features, targets)
    assert not any(key.startswith("val_") for key in result.history[-1])


def test_string_labels_round_trip_through_the_artefact(blobs):
    features, labels = blobs
    result = fit(make_spec(epochs=30), features, labels)
    model = Model.from_bytes(result.model.to_bytes())
    assert model.classes == ["cat", "dog", "eel"]
    prediction = model.predict(features)
    assert prediction.probabilities.shape == (240, 3)
    np.testing.assert_allclose(prediction.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(prediction.predictions == labels) > 0.95
    assert list(prediction.predictions) == [model.classes[i] for i in prediction.probabilities.argmax(axis=1)]


def test_float64_dtype_trains_in_float64(spiral):
    features, targets = spiral
    result = fit(make_spec(dtype="float64", epochs=2), features, targets)
    assert result.model.params.dtype == np.float64
    data, _ = start(make_spec(dtype="float64"), features, targets)
    assert data.train.features.dtype == np.float64


def test_resuming_from_the_stopping_epoch_trains_no_further():
    """A checkpoint written at the epoch where patience ran out resumes into an immediate stop."""
    rng = np.random.default_rng(3)
    features, targets = rng.normal(size=(200, 5)), rng.integers(0, 2, size=200)
    spec = make_spec(epochs=300, layers=[{"units": 64, "activation": "relu"}], validation_split=0.3,
                     early_stopping={"monitor": "val_loss", "patience": 5})
    saved = {}
    finished = fit(spec, features, targets, callback=lambda record, checkpoint: saved.update(blob=checkpoint.to_bytes()))
    resumed = fit(spec, features, targets, resume_from=saved["blob"])
    assert resumed.stop_reason == "early_stopping" and resumed.history == []
    assert np.array_equal(resumed.model.params, finished.model.params)
    assert resumed.model.meta == finished.model.meta  # The best epoch and its record came back too.


def test_a_restored_model_reports_the_metrics_of_the_weights_it_holds():
    """With restore_best the weights are the best epoch's, and so must be the metrics: the
    validation accuracy recomputed from the model's own predictions equals the one it reports."""
    rng = np.random.default_rng(3)
    features, targets = rng.normal(size=(200, 5)), rng.integers(0, 2, size=200)
    spec = make_spec(epochs=300, layers=[{"units": 64, "activation": "relu"}], validation_split=0.3,
                     early_stopping={"monitor": "val_loss", "patience": 5})
    result = fit(spec, features, targets)
    model, last = result.model, result.history[-1]
    assert model.epoch == result.best_epoch < last["epoch"]
    assert model.metrics == result.history[result.best_epoch - 1]
    assert model.last_metrics == last
    _, validation_rows = split_indices(encode_targets(targets, "classification"), spec.validation_split, spec.seed)
    accuracy = float((model.predict(features[validation_rows]).predictions == targets[validation_rows]).mean())
    assert accuracy == pytest.approx(model.metrics["val_accuracy"], abs=1e-12)
    assert model.metrics["val_accuracy"] != last["val_accuracy"] or model.metrics["val_loss"] != last["val_loss"]
    assert Model.from_bytes(model.to_bytes()).meta == model.meta


def test_without_early_stopping_the_model_holds_the_last_epoch(spiral):
    features, targets = spiral
    result = fit(make_spec(epochs=4), features, targets)
    assert result.model.epoch == 4
    assert result.model.metrics == result.model.last_metrics == result.history[-1]


@pytest.mark.parametrize("validation_split, monitored", [(0.3, "val_loss"), (0.0, "loss")])
def test_auto_monitor_watches_validation_loss_when_there_is_a_validation_set(validation_split, monitored):
    rng = np.random.default_rng(3)
    features, targets = rng.normal(size=(200, 5)), rng.integers(0, 2, size=200)
    spec = make_spec(epochs=60, layers=[{"units": 64, "activation": "relu"}], validation_split=validation_split,
                     early_stopping={"monitor": "auto", "patience": 100})
    result = fit(spec, features, targets)
    values = [record[monitored] for record in result.history]
    assert result.best_epoch == int(np.argmin(values)) + 1
    assert result.model.epoch == result.best_epoch
