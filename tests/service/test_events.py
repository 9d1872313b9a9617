"""GET /v1/jobs/{id}/events: every epoch so far, then new ones as written, then one end event."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import update

from service.app_state import app_state
from service.api import events as events_module
from service.tables import EpochMetric, Job

from tests.support.rows import add_rows, insert_job


def parse(chunk: str) -> list[dict]:
    """The events (and comments) in a chunk of a text/event-stream body."""
    parsed = []
    for block in chunk.split("\n\n"):
        if not block:
            continue
        fields = {}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            fields[name or "comment"] = value.removeprefix(" ")
        parsed.append(fields)
    return parsed


def epoch_rows(job_id: str, epochs) -> list[EpochMetric]:
    return [EpochMetric(job_id=job_id, epoch=epoch, record={"epoch": epoch, "loss": 1 / epoch}) for epoch in epochs]


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(events_module, "POLL_SECONDS", 0.02)


def test_a_finished_job_streams_every_epoch_in_order_then_end(app, client):
    job = insert_job(app, None, "failed", epoch=3, error_type="DivergenceError", error_message="diverged")
    add_rows(app, *epoch_rows(job.id, (3, 1, 2)))
    response = client.get(f"/v1/jobs/{job.id}/events")
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = parse(response.get_data(as_text=True))
    assert [(event["event"], event.get("id")) for event in events] == [
        ("epoch", "1"), ("epoch", "2"), ("epoch", "3"), ("end", None)]
    assert json.loads(events[1]["data"]) == {"epoch": 2, "loss": 0.5}
    assert json.loads(events[-1]["data"]) == {
        "status": "failed", "error": {"type": "DivergenceError", "message": "diverged"}, "model_id": None}


def test_last_event_id_resumes_after_that_epoch_and_wins_over_after(app, client):
    job = insert_job(app, None, "succeeded", epoch=4, model_id="m" * 32)
    add_rows(app, *epoch_rows(job.id, range(1, 5)))
    resumed = parse(client.get(f"/v1/jobs/{job.id}/events?after=1", headers={"Last-Event-ID": "2"}).get_data(as_text=True))
    assert [event.get("id") for event in resumed] == ["3", "4", None]
    assert json.loads(resumed[-1]["data"])["model_id"] == "m" * 32
    by_query = parse(client.get(f"/v1/jobs/{job.id}/events?after=3").get_data(as_text=True))
    assert [event.get("id") for event in by_query] == ["4", None]


def test_a_malformed_last_event_id_is_422(app, client):
    job = insert_job(app, None, "succeeded")
    response = client.get(f"/v1/jobs/{job.id}/events", headers={"Last-Event-ID": "soon"})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert response.get_json()["errors"][0]["parameter"] == "Last-Event-ID"


def test_a_running_job_streams_new_epochs_as_written_then_end(app, client):
    job = insert_job(app, None, "running", epoch=1)
    add_rows(app, *epoch_rows(job.id, [1]))

    def worker():
        time.sleep(0.1)
        add_rows(app, *epoch_rows(job.id, [2]))
        time.sleep(0.1)
        add_rows(app, *epoch_rows(job.id, [3]))
        with app_state(app).sessions() as session:
            session.execute(update(Job).where(Job.id == job.id).values(status="succeeded", epoch=3))
            session.commit()

    response = client.get(f"/v1/jobs/{job.id}/events", buffered=False)
    seen, thread = [], threading.Thread(target=worker)
    for chunk in response.response:
        for event in parse(chunk.decode() if isinstance(chunk, bytes) else chunk):
            seen.append(event)
            if event.get("id") == "1":
                thread.start()  # Only once the stream has sent what was already there.
    thread.join()
    response.close()
    assert [(event["event"], event.get("id")) for event in seen] == [
        ("epoch", "1"), ("epoch", "2"), ("epoch", "3"), ("end", None)]
    assert json.loads(seen[-1]["data"]) == {"status": "succeeded", "error": None, "model_id": None}


def test_an_idle_stream_sends_keep_alives_and_ends_at_its_lifetime(app, client, monkeypatch):
    monkeypatch.setattr(events_module, "HEARTBEAT_SECONDS", 0.05)
    monkeypatch.setattr(events_module, "STREAM_SECONDS", 0.3)
    job = insert_job(app, None, "queued")
    started = time.monotonic()
    events = parse(client.get(f"/v1/jobs/{job.id}/events").get_data(as_text=True))
    assert time.monotonic() - started < 2
    assert events and all(event == {"comment": "keep-alive"} for event in events)


def test_unknown_job_is_404_before_streaming(client):
    response = client.get("/v1/jobs/nope/events")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_beyond_max_event_streams_it_is_503_with_retry_after_and_other_routes_still_answer(make_app, monkeypatch):
    # The test client reads a stream's first chunk before it returns: a keep-alive, soon.
    monkeypatch.setattr(events_module, "HEARTBEAT_SECONDS", 0.05)
    app = make_app(max_event_streams=2)
    client = app.test_client()
    job = insert_job(app, None, "queued")  # Never finishes: its streams stay open until closed.
    url = f"/v1/jobs/{job.id}/events"
    open_streams = [client.get(url, buffered=False) for _ in range(2)]
    assert [stream.status_code for stream in open_streams] == [200, 200]

    refused = client.get(url)

    assert refused.status_code == 503 and refused.mimetype == "application/problem+json"
    assert int(refused.headers["Retry-After"]) >= 1
    assert "max_event_streams" in refused.get_json()["detail"]
    assert client.get(f"/v1/jobs/{job.id}").status_code == 200
    # A stream that ends, here closed by its client before it sent a byte, frees its slot.
    open_streams.pop().close()
    reopened = client.get(url, buffered=False)
    assert reopened.status_code == 200
    for stream in (reopened, *open_streams):
        stream.close()


def test_with_max_event_streams_0_streams_are_off(make_app):
    app = make_app(max_event_streams=0)
    job = insert_job(app, None, "succeeded")
    assert app.test_client().get(f"/v1/jobs/{job.id}/events").status_code == 503


def test_a_stream_that_ran_to_its_end_frees_its_slot(make_app):
    app = make_app(max_event_streams=1)
    job = insert_job(app, None, "succeeded")
    client = app.test_client()
    assert [client.get(f"/v1/jobs/{job.id}/events").status_code for _ in range(3)] == [200, 200, 200]
