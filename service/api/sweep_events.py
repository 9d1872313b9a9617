"""GET /v1/sweeps/{sweep_id}/events: a sweep's trials and their epochs as server-sent events.

Like the job stream (:mod:`service.api.events`) it polls the database with a fresh short session
each time and holds one of the server's stream slots. Three kinds of event:

- ``trial`` (no id): a trial's state (job id, index, status, sampled values, objective, epochs),
  sent for every trial when the stream opens and again whenever its status changes, so a
  reconnecting client always learns the present state of each;
- ``epoch`` (id: the epoch row's number): one epoch of one trial, its objective only. Ids grow
  with the rows; the stream resumes after ``Last-Event-ID``, so no epoch comes twice or is lost;
- ``end`` once the sweep and all its trials have finished, after which the server closes it.

An epoch row's number is taken when it is inserted but seen when it commits, so two workers
can commit out of order, and the numbers are shared by every job's epochs. A stream therefore
sends an epoch only once its number is at most the highest number in the table
``HORIZON_SECONDS`` ago: a write open that long would be the only way to miss one.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from typing import Iterator

from flask import Flask, current_app, request
from sqlalchemy import func, select

from . import events as job_events
from . import resource_blueprint
from ..app_state import app_state
from ..errors import InvalidRequest, problem_docs
from .events import EVENT_STREAM, HEARTBEAT_SECONDS, event_stream_response
from ..job_states import FINISHED_STATUSES
from ..tables import EpochMetric, Job, Sweep
from ..sweep_board import trials_of
from ..sweep_schemas import SweepEventsQuery, SweepPath
from .sweeps import find_sweep

blueprint = resource_blueprint("sweep_events", __name__, "/v1/sweeps", tag="sweeps")

HORIZON_SECONDS = 1.0
SWEEP_LAST_EVENT_ID_PATTERN = r"^[0-9]{0,18}$"
SWEEP_EVENTS_DOCS = {200: {
    "description": "A stream of server-sent events (`text/event-stream`): `event: trial` (no id) with a trial's "
                   "state as JSON (`job_id`, `trial`, `status`, `sampled`, `objective`, `epoch`), for every trial "
                   "at the start and on each status change; `event: epoch` with `id: <n>` and `data: {\"job_id\", "
                   "\"trial\", \"epoch\", \"objective\"}` for each epoch of a trial; `: keep-alive` comments; and a "
                   "final `event: end` with `data: {\"status\": ...}` once the sweep and its trials have finished. "
                   "Reconnect with `Last-Event-ID` to resume after the last epoch event received.",
    "content": {EVENT_STREAM: {"schema": {"anyOf": [{"type": "object", "title": "SweepEvent",
                                                     "required": ["event", "data"], "properties": {
        "event": {"type": "string", "enum": ["trial", "epoch", "end"]},
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "data": {"type": "string", "contentMediaType": "application/json"},
    }}, {"type": "string", "description": "The stream's text, read whole once it has ended."}]}}},
}}



@blueprint.get("/<sweep_id>/events", responses={**SWEEP_EVENTS_DOCS, **problem_docs(404, 422, 503)})
def stream_sweep_events(path: SweepPath, query: SweepEventsQuery):
    """Stream the sweep's trials and epochs as server-sent events, resuming after ``Last-Event-ID`` (or ``after``).

    503 with Retry-After while this server holds as many streams as it allows.
    """
    find_sweep(path.sweep_id)
    after = _last_event_id(query.after)
    return event_stream_response(lambda: sweep_events(current_app._get_current_object(), path.sweep_id, after),
                                 f"poll GET /v1/sweeps/{path.sweep_id} meanwhile")


def _last_event_id(after: int | None) -> int | None:
    given = request.headers.get("Last-Event-ID")
    if given is None or given == "":
        return after
    if not re.fullmatch(SWEEP_LAST_EVENT_ID_PATTERN, given):
        raise InvalidRequest([{"parameter": "Last-Event-ID",
                               "detail": "must be an epoch event's id (at most 18 digits)"}])
    return int(given)


def sweep_events(app: Flask, sweep_id: str, after: int | None) -> Iterator[str]:
    """The sweep's ``trial``, ``epoch`` and ``end`` events; see the module docstring."""
    started = time.monotonic()
    last_sent = started - HEARTBEAT_SECONDS
    last_id = 0 if after is None else after
    sent_status: dict[str, str] = {}
    highest_seen: deque[tuple[float, int]] = deque()  # (when, the table's highest epoch row number then)
    horizon = last_id
    while True:
        with app_state(app).sessions() as session:
            # The sweep and its trials before the epochs: once all read finished, every epoch is committed.
            sweep = session.get(Sweep, sweep_id)
            if sweep is None:
                return
            trials = trials_of(session, [sweep])[sweep_id]
            highest_seen.append((time.monotonic(), session.scalar(select(func.max(EpochMetric.id))) or 0))
            rows = session.execute(
                select(EpochMetric.id, EpochMetric.job_id, EpochMetric.epoch, EpochMetric.record, Job.trial)
                .join(Job, Job.id == EpochMetric.job_id)
                .where(Job.sweep_id == sweep_id, EpochMetric.id > last_id)
                .order_by(EpochMetric.id)
            ).all()
            metric, status = sweep.objective_metric, sweep.status
        finished = status not in ("queued", "running") and all(trial.status in FINISHED_STATUSES for trial in trials)
        while highest_seen and highest_seen[0][0] <= time.monotonic() - HORIZON_SECONDS:
            horizon = max(horizon, highest_seen.popleft()[1])
        for trial in trials:
            if sent_status.get(trial.job_id) != trial.status:
                sent_status[trial.job_id] = trial.status
                yield f"event: trial\ndata: {trial.model_dump_json()}\n\n"
                last_sent = time.monotonic()
        for row in rows:
            if row.id > horizon and not finished:
                break
            data = {"job_id": row.job_id, "trial": row.trial, "epoch": row.epoch, "objective": row.record.get(metric)}
            yield f"event: epoch\nid: {row.id}\ndata: {json.dumps(data)}\n\n"
            last_id, last_sent = row.id, time.monotonic()
        if finished:
            yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
            return
        now = time.monotonic()
        if now - started >= job_events.STREAM_SECONDS:  # Read late: tests shorten it.
            return
        if now - last_sent >= HEARTBEAT_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = now
        time.sleep(job_events.POLL_SECONDS)
