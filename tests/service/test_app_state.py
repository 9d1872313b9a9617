"""The app's state is one typed object, made with the app: nothing is made on first use."""

from __future__ import annotations

import dataclasses

from service.app_state import AppState, app_state


def test_the_app_holds_one_state_and_celery_and_nothing_else(app):
    assert sorted(app.extensions) == ["axon", "celery"]
    state = app_state(app)
    assert isinstance(state, AppState)
    # Every field is made by create_app, before any request (the answer caches included).
    assert all(getattr(state, field.name) is not None for field in dataclasses.fields(AppState))
    assert len(state.boundary_cache) == len(state.network_cache) == len(state.model_cache) == 0


def test_each_app_has_its_own_state(make_app):
    first, second = app_state(make_app()), app_state(make_app(max_event_streams=0))
    assert first.engine is not second.engine and first.boundary_cache is not second.boundary_cache
    assert first.stream_slots is not None and second.stream_slots is None  # 0: event streams off.


def test_the_accessor_reads_the_current_app(make_app):
    app, other = make_app(), make_app()
    with app.app_context():
        assert app_state() is app_state(app) and app_state() is not app_state(other)
