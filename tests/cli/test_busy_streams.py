"""A server with no event stream to spare (503 + Retry-After): ``axon.Client`` and ``axon watch``
read the job by polling instead, and still see every epoch once and the end."""

from __future__ import annotations

import time

import pytest

from axon import Client, EndEvent, EpochEvent

from tests.support.live import axon, live_server

SPEC = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 40, "batch_size": 10, "device": "cpu"}


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory):
    """An ``axon serve`` that allows no event stream at all, so every stream request is a 503."""
    with live_server(tmp_path_factory.mktemp("busy"), AXON_AUTH="off", AXON_MAX_EVENT_STREAMS="0") as url:
        yield url


def test_the_stream_answers_503_with_retry_after(busy_server):
    with Client(busy_server) as client:
        job = client.submit(client.create_dataset(generator={"kind": "circle", "n_samples": 60})["id"], SPEC)
        response = client._http.get(f"/v1/jobs/{job['id']}/events")
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1


def test_events_fall_back_to_polling_and_miss_nothing(busy_server):
    with Client(busy_server) as client:
        dataset = client.create_dataset(generator={"kind": "circle", "n_samples": 200, "seed": 5})
        job = client.submit(dataset["id"], SPEC)

        events = list(client.events(job["id"], timeout=120))

        epochs = [event.epoch for event in events if isinstance(event, EpochEvent)]
        assert epochs == list(range(1, SPEC["epochs"] + 1))
        assert events[-1] == EndEvent("succeeded", None, client.job(job["id"])["model_id"])


def test_axon_watch_still_follows_a_job_to_its_end(busy_server):
    with Client(busy_server) as client:
        job = client.submit(client.create_dataset(generator={"kind": "xor", "n_samples": 100})["id"], SPEC)
    completed = axon(busy_server, "watch", job["id"], timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "succeeded" in completed.stdout


def test_while_busy_new_epochs_arrive_by_polling_until_the_timeout(busy_server):
    long_spec = {**SPEC, "epochs": 100_000, "layers": [{"units": 32, "activation": "tanh"}], "batch_size": 4}
    with Client(busy_server) as client:
        job = client.submit(client.create_dataset(generator={"kind": "spiral", "n_samples": 400})["id"], long_spec)
        seen, began = [], time.monotonic()
        try:
            with pytest.raises(TimeoutError):
                for event in client.events(job["id"], timeout=3):
                    seen.append(event.epoch)
            elapsed = time.monotonic() - began
        finally:
            client.cancel(job["id"])

    # The whole timeout was used (Retry-After is 5 s: waiting it out would have given up at once),
    # and the epochs came in order, each once, over several polls.
    assert 2.9 <= elapsed < 6
    assert seen and seen == list(range(1, len(seen) + 1))
