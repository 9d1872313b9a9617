"""Learning-rate schedules against their closed forms, and reduce-on-plateau against its rule."""

import json
import math

import pytest

from mlp.schedules import SCHEDULES, Schedule
from mlp.spec import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    PlateauSchedule,
    StepSchedule,
)

BASE_LR = 0.2


def rates(spec, epochs, at):
    schedule = Schedule(spec, BASE_LR, epochs)
    return [schedule.learning_rate(epoch) for epoch in at]


def test_every_stateless_schedule_is_tested():
    assert set(SCHEDULES) == {"constant", "step", "exponential", "cosine"}


def test_constant():
    assert rates(ConstantSchedule(), 50, [0, 1, 49]) == [BASE_LR] * 3


def test_step_multiplies_by_gamma_every_step_size_epochs():
    got = rates(StepSchedule(step_size=3, gamma=0.5), 20, [0, 2, 3, 5, 6, 19])
    assert got == pytest.approx([0.2, 0.2, 0.1, 0.1, 0.05, 0.2 * 0.5**6], rel=1e-15)


def test_exponential_multiplies_by_gamma_every_epoch():
    got = rates(ExponentialSchedule(gamma=0.9), 20, [0, 1, 2, 10])
    assert got == pytest.approx([0.2, 0.18, 0.162, 0.2 * 0.9**10], rel=1e-14)


def cosine(epoch, period, eta_min):
    return eta_min + (BASE_LR - eta_min) * 0.5 * (1 + math.cos(math.pi * epoch / period))


def test_cosine_spans_all_epochs_by_default():
    got = rates(CosineSchedule(eta_min=0.02), 10, [0, 3, 5, 9])
    assert got == pytest.approx([cosine(e, 10, 0.02) for e in [0, 3, 5, 9]], rel=1e-14)
    assert got[0] == pytest.approx(BASE_LR, rel=1e-15)
    assert got[2] == pytest.approx((BASE_LR + 0.02) / 2, rel=1e-14)  # Halfway down at epoch T / 2.


def test_cosine_with_t_max_reaches_eta_min_at_t_max_and_stays_there():
    got = rates(CosineSchedule(t_max=4, eta_min=0.01), 10, [0, 1, 2, 4, 7, 9])
    assert got == pytest.approx([cosine(0, 4, 0.01), cosine(1, 4, 0.01), 0.105, 0.01, 0.01, 0.01], rel=1e-14)


def test_cosine_warm_up_rises_linearly_then_anneals_over_the_rest():
    warmup, epochs = 3, 13
    got = rates(CosineSchedule(warmup_epochs=warmup), epochs, range(epochs))
    # Warm-up: base * (epoch + 1) / warmup, reaching the base at its last epoch.
    assert got[:warmup] == pytest.approx([BASE_LR / 3, 2 * BASE_LR / 3, BASE_LR], rel=1e-14)
    # Then a half cosine over the remaining 10 epochs, starting from the base.
    expected_tail = [cosine(epoch - warmup, epochs - warmup, 0.0) for epoch in range(warmup, epochs)]
    assert got[warmup:] == pytest.approx(expected_tail, rel=1e-14)
    assert got[warmup + 5] == pytest.approx(BASE_LR / 2, rel=1e-14)
    assert all(later < earlier for earlier, later in zip(got[warmup:], got[warmup + 1:]))


# --- reduce on plateau ---------------------------------------------------------------------------

def observe_all(schedule, monitor, values):
    """Feed one record per value; return the learning rate in force after each."""
    seen = []
    for value in values:
        schedule.observe({monitor: value})
        seen.append(schedule.learning_rate(len(seen)))
    return seen


def test_plateau_reduces_after_patience_plus_one_bad_epochs():
    schedule = Schedule(PlateauSchedule(monitor="val_loss", patience=2, factor=0.5, threshold=0.0), BASE_LR, 100)
    # Best at 1.0, then three epochs without improvement: the third exceeds patience 2.
    got = observe_all(schedule, "val_loss", [1.0, 1.0, 1.2, 1.1])
    assert got == [0.2, 0.2, 0.2, 0.1]
    # The counter restarts after a reduction: three more bad epochs for the next one.
    got = observe_all(schedule, "val_loss", [1.5, 1.3, 1.05])
    assert got == pytest.approx([0.1, 0.1, 0.05], rel=1e-15)


def test_plateau_improvement_resets_the_count():
    schedule = Schedule(PlateauSchedule(monitor="loss", patience=1, factor=0.5, threshold=0.0), BASE_LR, 100)
    got = observe_all(schedule, "loss", [1.0, 1.1, 0.9, 1.0, 0.8, 0.85, 0.86])
    assert got == pytest.approx([0.2] * 6 + [0.1], rel=1e-15)


def test_plateau_improvement_must_beat_the_relative_threshold():
    schedule = Schedule(PlateauSchedule(monitor="val_loss", patience=1, factor=0.5, threshold=0.1), BASE_LR, 100)
    # 0.95 and 0.91 are better than 1.0 but not by 10%: both count as bad.
    assert observe_all(schedule, "val_loss", [1.0, 0.95, 0.91]) == [0.2, 0.2, 0.1]
    # 0.89 beats 1.0 by more than 10%: it is the new best, and 0.85 does not beat it by 10%.
    assert observe_all(schedule, "val_loss", [0.89, 0.85]) == pytest.approx([0.1, 0.1], rel=1e-15)
    assert schedule.plateau.best == 0.89


def test_plateau_never_goes_below_min_lr():
    schedule = Schedule(PlateauSchedule(monitor="val_loss", patience=0, factor=0.1, min_lr=0.005), BASE_LR, 100)
    got = observe_all(schedule, "val_loss", [1.0, 2.0, 2.0, 2.0])
    assert got == pytest.approx([0.2, 0.02, 0.005, 0.005], rel=1e-15)


def test_plateau_on_a_maximised_monitor():
    spec = PlateauSchedule(monitor="val_accuracy", patience=0, factor=0.5, threshold=0.0)
    rising = Schedule(spec, BASE_LR, 100)
    assert observe_all(rising, "val_accuracy", [0.5, 0.6, 0.7, 0.8]) == [0.2] * 4
    falling = Schedule(spec, BASE_LR, 100)
    assert observe_all(falling, "val_accuracy", [0.8, 0.7, 0.6]) == pytest.approx([0.2, 0.1, 0.05], rel=1e-15)


def test_plateau_threshold_on_a_maximised_monitor_is_relative_upwards():
    schedule = Schedule(PlateauSchedule(monitor="val_accuracy", patience=0, factor=0.5, threshold=0.1), BASE_LR, 100)
    # 0.54 is not 10% above 0.5 (bad: reduce); 0.56 is (new best: no reduction).
    assert observe_all(schedule, "val_accuracy", [0.5, 0.54, 0.56]) == pytest.approx([0.2, 0.1, 0.1], rel=1e-15)
    assert schedule.plateau.best == 0.56


def test_plateau_learning_rate_does_not_depend_on_the_epoch_asked():
    schedule = Schedule(PlateauSchedule(monitor="val_loss", patience=0, factor=0.5), BASE_LR, 100)
    observe_all(schedule, "val_loss", [1.0, 2.0])
    assert schedule.learning_rate(0) == schedule.learning_rate(99) == pytest.approx(0.1, rel=1e-15)


def test_plateau_state_round_trips_through_json():
    spec = PlateauSchedule(monitor="val_loss", patience=2, factor=0.5, threshold=0.0)
    original = Schedule(spec, BASE_LR, 100)
    observe_all(original, "val_loss", [1.0, 0.8, 0.9, 0.95, 0.99, 0.97])  # One reduction, one bad epoch.
    state = json.loads(json.dumps(original.state_dict()))  # Checkpoints store it as JSON.
    assert state == {"learning_rate": 0.1, "best": 0.8, "bad_epochs": 1}
    resumed = Schedule(spec, BASE_LR, 100)
    resumed.load_state_dict(state)
    later = [0.96, 0.85, 0.7, 0.75]
    assert observe_all(resumed, "val_loss", later) == observe_all(original, "val_loss", later)
    assert resumed.state_dict() == original.state_dict()
    assert resumed.learning_rate(0) == 0.05  # The resumed run did reduce again.


def test_stateless_schedules_have_empty_state():
    schedule = Schedule(StepSchedule(step_size=2, gamma=0.5), BASE_LR, 10)
    assert schedule.state_dict() == {}
    schedule.load_state_dict({})
    schedule.observe({"val_loss": 1.0})  # Ignored: the rate is a function of the epoch alone.
    assert schedule.learning_rate(4) == pytest.approx(0.05, rel=1e-15)
