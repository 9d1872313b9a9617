"""GET /v1/jobs/{job_id}/events: a job's epochs as server-sent events.

The stream polls the database with a fresh short session each time, so it never holds a
transaction open; the generator takes the app and ids explicitly and needs no request context.

Each open stream holds one of the server's threads for as long as it lasts, so one process keeps
at most ``max_event_streams`` open (fewer than its threads) and answers 503 with Retry-After
beyond them: a few dashboards must never leave no thread for predict or /healthz.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Callable, Iterator

from flask import Flask, Response, current_app, request
from sqlalchemy import select

from ..app_state import app_state
from ..errors import ApiError, InvalidRequest, problem_docs
from . import resource_blueprint
from .jobs import find_job
from ..job_states import FINISHED_STATUSES
from ..tables import EpochMetric, Job
from ..openapi import LAST_EVENT_ID_PATTERN
from ..schemas import JobPath, MetricsQuery

blueprint = resource_blueprint("events", __name__, "/v1/jobs", tag="jobs")

EVENT_STREAM = "text/event-stream"
POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
# A forgotten client must not hold a thread forever; EventSource reconnects with Last-Event-ID.
STREAM_SECONDS = 3600.0
# When every stream slot is taken: streams of short jobs end within seconds.
BUSY_RETRY_SECONDS = 5

EVENTS_DOCS = {200: {
    "description": "A stream of server-sent events (the WHATWG `text/event-stream` format), one block per event, "
                   "blocks separated by a blank line:\n\n"
                   "- `event: epoch`, `id: <epoch>`, `data: <the epoch's record as one line of JSON>` (an object "
                   "with `epoch`, `loss`, `learning_rate`, `seconds` and the task's metrics, e.g. `accuracy`, `val_loss`), "
                   "for every epoch after `Last-Event-ID` (or `after`) so far, then for each new one;\n"
                   "- `: keep-alive` comment lines at least every 15 s while no epoch comes;\n"
                   "- a final `event: end` with no id, `data: {\"status\": \"succeeded\" | \"failed\" | "
                   "\"cancelled\" | \"pruned\", \"error\": null | {\"type\": ..., \"message\": ...}, "
                   "\"model_id\": null | \"...\"}` once the job has finished, after which the server closes it.\n\n"
                   "The answer lasts as long as the job (at most an hour; reconnect with `Last-Event-ID` then): "
                   "read it incrementally, not as one body.",
    # Before OpenAPI 3.2's itemSchema, tools read a stream's schema two ways: Schemathesis as each
    # event's fields, client generators as the body's text. The schema admits both readings.
    "content": {EVENT_STREAM: {"schema": {"anyOf": [{"type": "object", "title": "ServerSentEvent",
                                                     "required": ["event", "data"], "properties": {
        "event": {"type": "string", "enum": ["epoch", "end"]},
        "id": {"type": "string", "pattern": "^[0-9]+$",
               "description": "The epoch (epoch events only); what a client sends back as Last-Event-ID."},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "description": "One line of JSON: the epoch's record, or the end's status, error and model_id."},
    }}, {"type": "string", "description": "The stream's text, read whole once it has ended."}]}, "example":
                "event: epoch\nid: 1\ndata: {\"epoch\": 1, \"loss\": 0.69, \"accuracy\": 0.51}\n\n"
                "event: end\ndata: {\"status\": \"succeeded\", \"error\": null, \"model_id\": \"3f2a...\"}\n\n"}},
}}


class StreamsBusy(ApiError):
    status, title, type = 503, "Service Unavailable", "urn:axon:problem:streams-busy"


@blueprint.get("/<job_id>/events", responses={**EVENTS_DOCS, **problem_docs(404, 422, 503)})
def stream_events(path: JobPath, query: MetricsQuery):
    """Stream the job's epochs as server-sent events, resuming after ``Last-Event-ID`` (or ``after``).

    503 with Retry-After while this server holds as many streams as it allows; poll the job meanwhile.
    """
    find_job(path.job_id)  # A 404 now, before the stream starts.
    after = _last_event_id(query.after)
    return event_stream_response(lambda: job_events(current_app._get_current_object(), path.job_id, after),
                                 f"poll GET /v1/jobs/{path.job_id} meanwhile")


def event_stream_response(events: Callable[[], Iterator[str]], meanwhile: str) -> Response:
    """A ``text/event-stream`` response of ``events()``, holding one of the server's stream slots
    until the stream ends or the client goes; 503 with Retry-After when none is free (``meanwhile``
    says what to do instead)."""
    slots = app_state().stream_slots
    if slots is None or not slots.acquire(blocking=False):
        raise StreamsBusy(f"this server has as many event streams open as it allows (max_event_streams); {meanwhile}",
                          headers={"Retry-After": str(BUSY_RETRY_SECONDS)})
    slot = StreamSlot(slots)
    try:
        response = Response(_releasing(events(), slot), mimetype=EVENT_STREAM,
                            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    except BaseException:
        slot.release()
        raise
    # The server closes the response when the client goes, even before the stream started.
    response.call_on_close(slot.release)
    return response


class StreamSlot:
    """One slot of ``slots``, given back once, by whichever comes first: the stream's end or its close."""

    def __init__(self, slots: threading.BoundedSemaphore):
        self._slots, self._lock, self._held = slots, threading.Lock(), True

    def release(self) -> None:
        with self._lock:
            if self._held:
                self._held = False
                self._slots.release()


def _releasing(stream: Iterator[str], slot: StreamSlot) -> Iterator[str]:
    try:
        yield from stream
    finally:
        slot.release()


def _last_event_id(after: int | None) -> int | None:
    # The header wins: a reconnecting EventSource sends it with the URL it first opened.
    given = request.headers.get("Last-Event-ID")
    if given is None or given == "":
        return after
    if not re.fullmatch(LAST_EVENT_ID_PATTERN, given):
        raise InvalidRequest([{"parameter": "Last-Event-ID", "detail": "must be an epoch number (at most 9 digits)"}])
    return int(given)


def job_events(app: Flask, job_id: str, after: int | None) -> Iterator[str]:
    """Each epoch after ``after`` as an ``epoch`` event, then one ``end`` event once the job has finished."""
    # The first keep-alive goes at once when there is no epoch to send: servers send the headers
    # with the first bytes of the body, and a client must not wait 15 s to learn its stream is open.
    started = time.monotonic()
    last_sent = started - HEARTBEAT_SECONDS
    last_epoch = -1 if after is None else after
    while True:
        # The job before its epochs: once it reads finished, every epoch it wrote is committed.
        with app_state(app).sessions() as session:
            job = session.get(Job, job_id)
            rows = session.execute(
                select(EpochMetric.epoch, EpochMetric.record)
                .where(EpochMetric.job_id == job_id, EpochMetric.epoch > last_epoch)
                .order_by(EpochMetric.epoch)
            ).all()
            final = _end_record(job) if job is not None and job.status in FINISHED_STATUSES else None
        if job is None:  # Deleted while streaming: nothing more will come.
            return
        for epoch, record in rows:
            yield f"event: epoch\nid: {epoch}\ndata: {json.dumps(record)}\n\n"
            last_epoch, last_sent = epoch, time.monotonic()
        if final is not None:
            yield f"event: end\ndata: {json.dumps(final)}\n\n"
            return
        now = time.monotonic()
        if now - started >= STREAM_SECONDS:
            return
        if now - last_sent >= HEARTBEAT_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = now
        time.sleep(min(POLL_SECONDS, max(STREAM_SECONDS - (now - started), 0)))


def _end_record(job: Job) -> dict:
    error = None if job.error_type is None else {"type": job.error_type, "message": job.error_message or ""}
    return {"status": job.status, "error": error, "model_id": job.model_id}
