"""GET /v1/jobs/{job_id}/events: a job's epochs as server-sent events, on the jobs blueprint.

The stream polls the database with a fresh short session each time, so it never holds a
transaction open; the generator takes the app and ids explicitly and needs no request context.
"""

from __future__ import annotations

import json
import time
from typing import Iterator

from flask import Flask, Response, current_app, request
from sqlalchemy import select

from .errors import InvalidRequest, problem_docs
from .jobs import blueprint, find_job
from .models import EpochMetric, FINISHED_STATUSES, Job
from .schemas import MAX_EPOCH, JobPath, MetricsQuery

EVENT_STREAM = "text/event-stream"
POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
# A forgotten client must not hold a thread forever; EventSource reconnects with Last-Event-ID.
STREAM_SECONDS = 3600.0

EVENTS_DOCS = {200: {
    "description": "Server-sent events: `event: epoch` (`id` = epoch, `data` = the epoch's record) for every "
                   "epoch so far and then each new one, `: keep-alive` comments, and a final `event: end` "
                   "(`data` = status, error, model_id) once the job has finished, after which the stream closes.",
    # One event, as OpenAPI tools read text/event-stream: the fields of each event block.
    "content": {EVENT_STREAM: {"schema": {"type": "object", "required": ["event", "data"], "properties": {
        "event": {"type": "string", "enum": ["epoch", "end"]},
        "id": {"type": "string", "description": "The epoch (epoch events only)."},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "description": "The epoch's record, or the final status, error and model_id."},
    }}}},
}}


@blueprint.get("/<job_id>/events", responses={**EVENTS_DOCS, **problem_docs(404, 422)})
def stream_events(path: JobPath, query: MetricsQuery):
    """Stream the job's epochs as server-sent events, resuming after ``Last-Event-ID`` (or ``after``)."""
    find_job(path.job_id)  # A 404 now, before the stream starts.
    after = _last_event_id(query.after)
    stream = job_events(current_app._get_current_object(), path.job_id, after)
    return Response(stream, mimetype=EVENT_STREAM, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _last_event_id(after: int | None) -> int | None:
    # The header wins: a reconnecting EventSource sends it with the URL it first opened.
    given = request.headers.get("Last-Event-ID")
    if given is None or given == "":
        return after
    if not given.isdecimal() or int(given) > MAX_EPOCH:
        raise InvalidRequest([{"parameter": "Last-Event-ID", "detail": "must be an epoch number"}])
    return int(given)


def job_events(app: Flask, job_id: str, after: int | None) -> Iterator[str]:
    """Each epoch after ``after`` as an ``epoch`` event, then one ``end`` event once the job has finished."""
    started = last_sent = time.monotonic()
    last_epoch = -1 if after is None else after
    while True:
        # The job before its epochs: once it reads finished, every epoch it wrote is committed.
        with app.extensions["axon.sessions"]() as session:
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
