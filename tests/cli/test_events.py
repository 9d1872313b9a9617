"""``Client.events`` and ``Client.wait(follow=True)`` against a live ``axon serve``: order, resumption
(``after``, and ``Last-Event-ID`` after a real dropped connection), the final event, timeouts."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

import axon.client
from axon import AxonUnavailable, Client, Conflict, EndEvent, EpochEvent, NotFound

from tests.support.processes import free_port

from .proxy import CuttingProxy

EPOCHS = 6
SPEC = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": EPOCHS, "batch_size": 10, "device": "cpu"}
# Enough work per epoch that a job is still running while a test looks at it; it is cancelled after.
LONG_SPEC = {"layers": [{"units": 32, "activation": "tanh"}], "epochs": 100_000, "batch_size": 4, "device": "cpu"}


@pytest.fixture(scope="module")
def finished(client):
    """A job that succeeded after EPOCHS epochs."""
    dataset = client.create_dataset(generator={"kind": "circle", "n_samples": 100, "seed": 3})
    job = client.wait(client.submit(dataset["id"], SPEC)["id"], timeout=120, poll=0.1)
    assert job["status"] == "succeeded", job
    return job


@pytest.fixture
def long_job(client):
    """A job that will not finish on its own; cancelled when the test is done with it."""
    dataset = client.create_dataset(generator={"kind": "spiral", "n_samples": 2000, "seed": 4})
    job = client.submit(dataset["id"], LONG_SPEC)
    yield job
    try:
        client.cancel(job["id"])
    except Conflict:  # The test cancelled it already.
        pass


@pytest.fixture
def fast_reconnects(monkeypatch):
    monkeypatch.setattr(axon.client, "RECONNECT_SECONDS", 0.05)


def epochs_of(events) -> list[int]:
    return [event.epoch for event in events if isinstance(event, EpochEvent)]


def test_events_replay_every_epoch_in_order_then_the_end(client, finished):
    events = list(client.events(finished["id"]))
    assert epochs_of(events) == list(range(1, EPOCHS + 1))
    assert events[-1] == EndEvent("succeeded", None, finished["model_id"])
    assert [event.record for event in events[:-1]] == client.metrics(finished["id"])


def test_events_after_an_epoch_resume_from_the_next(client, finished):
    assert epochs_of(client.events(finished["id"], after=3)) == [4, 5, 6]
    assert list(client.events(finished["id"], after=EPOCHS)) == [EndEvent("succeeded", None, finished["model_id"])]


def test_a_dropped_stream_resumes_after_the_last_epoch_seen(server, finished, fast_reconnects):
    proxy = CuttingProxy(urlsplit(server).port, cuts=[b"id: 2\n"])
    try:
        with Client(proxy.url) as client:
            events = list(client.events(finished["id"]))
    finally:
        proxy.close()
    assert epochs_of(events) == list(range(1, EPOCHS + 1))  # Each once: nothing lost, nothing repeated.
    assert isinstance(events[-1], EndEvent) and events[-1].status == "succeeded"
    assert len(proxy.requests) == 2
    assert b"last-event-id" not in proxy.requests[0].lower()
    assert b"last-event-id: 2\r\n" in proxy.requests[1].lower()


def test_the_reconnect_bound_counts_drops_in_a_row_not_in_all(server, finished, fast_reconnects):
    # Every connection is cut after its first event: seven drops, but never two in a row without news.
    proxy = CuttingProxy(urlsplit(server).port, cuts=[b"event: "] * (EPOCHS + 1))
    try:
        with Client(proxy.url) as client:
            events = list(client.events(finished["id"], reconnects=1))
    finally:
        proxy.close()
    assert epochs_of(events) == list(range(1, EPOCHS + 1)) and isinstance(events[-1], EndEvent)
    assert len(proxy.requests) == EPOCHS + 1


def test_a_stream_that_keeps_dropping_is_unavailable(server, finished, fast_reconnects):
    proxy = CuttingProxy(urlsplit(server).port, cuts=[b""] * 10)
    try:
        with Client(proxy.url) as client, pytest.raises(AxonUnavailable) as caught:
            list(client.events(finished["id"], reconnects=2))
    finally:
        proxy.close()
    assert len(proxy.requests) == 3  # The first try and two reconnects.
    assert "dropped 3 times in a row" in caught.value.detail


def test_events_follow_a_running_job_live_and_end_when_it_is_cancelled(client, long_job):
    seen = []
    for event in client.events(long_job["id"]):
        seen.append(event)
        if len(seen) == 1:
            # The first epoch arrives while the job is still training: the stream is live, not a replay.
            assert client.job(long_job["id"])["status"] == "running"
        if len(seen) == 2:
            client.cancel(long_job["id"])
    end = seen[-1]
    assert end == EndEvent("cancelled", None, None)
    assert epochs_of(seen) == list(range(1, len(seen)))  # Consecutive, from 1, up to where it stopped.
    assert client.job(long_job["id"])["epoch"] == len(seen) - 1


def test_events_time_out_while_the_job_goes_on(client, long_job):
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        for _ in client.events(long_job["id"], timeout=1.5):
            pass
    assert 1.0 <= time.monotonic() - started < 15


def test_wait_can_follow_the_stream_instead_of_polling(client, finished):
    seen: list[EpochEvent] = []
    job = client.wait(finished["id"], on_epoch=seen.append)
    assert job == client.job(finished["id"])
    assert [event.epoch for event in seen] == list(range(1, EPOCHS + 1))


def test_a_diverging_job_ends_with_its_error(client):
    dataset = client.create_dataset(generator={"kind": "plane", "n_samples": 100, "seed": 5})
    job = client.submit(dataset["id"], {"layers": [{"units": 8, "activation": "relu"}], "epochs": 50,
                                        "optimizer": {"name": "sgd", "learning_rate": 1e12}, "device": "cpu"})
    end = list(client.events(job["id"], timeout=120))[-1]
    assert (end.status, end.error["type"], end.model_id) == ("failed", "diverged", None)
    assert "not finite" in end.error["message"]


def test_events_of_an_unknown_job_are_not_found(client):
    with pytest.raises(NotFound) as caught:
        next(client.events("no-such-job"))
    assert caught.value.status == 404 and "no-such-job" in caught.value.detail


def test_events_from_a_closed_port_are_unavailable_at_once():
    started = time.monotonic()
    with Client(f"http://127.0.0.1:{free_port()}") as client, pytest.raises(AxonUnavailable):
        next(client.events("any"))
    assert time.monotonic() - started < 5  # No reconnect attempts when nobody ever answered.
