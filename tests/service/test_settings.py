"""Settings: the engine's limits nested in one mlp.Limits, each still its own AXON_* variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlp import Limits
from service.settings import Settings


@pytest.fixture
def no_axon_variables(monkeypatch):
    for name in list(Settings.variables()):
        monkeypatch.delenv(name, raising=False)


def test_each_limit_is_its_own_variable(no_axon_variables, monkeypatch):
    monkeypatch.setenv("AXON_MAX_UNITS", "12")
    monkeypatch.setenv("AXON_MAX_BATCH_SIZE", "8")
    monkeypatch.setenv("AXON_MAX_ROWS", "99")
    settings = Settings()
    assert settings.limits == Limits(max_units=12, max_batch_size=8)
    assert (settings.value_of("AXON_MAX_BATCH_SIZE"), settings.value_of("AXON_MAX_ROWS")) == (8, 99)


def test_given_limits_override_the_variables_field_by_field(no_axon_variables, monkeypatch):
    monkeypatch.setenv("AXON_MAX_UNITS", "12")
    monkeypatch.setenv("AXON_MAX_EPOCHS", "30")
    settings = Settings(limits={"max_epochs": 7})
    assert (settings.limits.max_units, settings.limits.max_epochs) == (12, 7)


def test_a_bad_limit_variable_names_its_field(no_axon_variables, monkeypatch):
    monkeypatch.setenv("AXON_MAX_BATCH_SIZE", "0")
    with pytest.raises(ValidationError, match="max_batch_size"):
        Settings()


def test_a_flat_limit_keyword_is_refused_not_dropped(no_axon_variables):
    with pytest.raises(ValidationError, match="max_units belong in limits"):
        Settings(max_units=3)


def test_the_variables_are_the_fields_and_the_limits_fields():
    variables = Settings.variables()
    assert "AXON_LIMITS" not in variables
    assert {f"AXON_{name.upper()}" for name in Limits.model_fields} <= set(variables)
    assert {f"AXON_{name.upper()}" for name in Settings.model_fields if name != "limits"} <= set(variables)
    assert len(variables) == len(Settings.model_fields) - 1 + len(Limits.model_fields)
