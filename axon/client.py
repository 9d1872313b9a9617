"""A Python client for the Axon HTTP API: datasets, jobs, metrics, models and predict.

It needs only httpx (and httpx-sse for the event stream) and NumPy, never Flask, Celery or
SQLAlchemy, so it installs and imports anywhere. Each error the API answers (RFC 9457 problem+json) is raised as a typed
:class:`AxonError` carrying the problem's fields; a server that cannot be reached is
:class:`AxonUnavailable`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import httpx
import numpy as np
from httpx_sse import EventSource, SSEError

from axon.client_sweeps import SweepsMixin
from axon.errors import (AxonError, AxonUnavailable, Conflict, InvalidRequest, NotFound, ServerError,  # noqa: F401
                         TooManyRequests, Unauthorized, problem_error)

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
FINISHED = frozenset({"succeeded", "failed", "cancelled", "pruned"})
EXPORT_ROUTES = {"npz": "weights", "onnx": "onnx"}  # Client.export's formats: /v1/models/<id>/<route>.
# Reconnecting to a dropped event stream waits this many seconds times the attempt number.
RECONNECT_SECONDS = 1.0
# A server with no stream to spare says when to try again; wait no longer than this between tries,
# and read the job by polling this often meanwhile.
MAX_BUSY_WAIT_SECONDS = 30.0
BUSY_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Prediction:
    """What :meth:`Client.predict` returns.

    ``predictions``: (n_rows,) class labels or values, (n_rows, n_targets) for several regression
    targets. ``probabilities``: (n_rows, n_classes) in the order of ``classes``; both None for
    regression.
    """

    predictions: np.ndarray
    probabilities: np.ndarray | None = None
    classes: list | None = None


@dataclass(frozen=True)
class EpochEvent:
    """One finished epoch of a job, from its event stream: the epoch (1-based) and its record
    (``loss``, ``accuracy``, ``val_loss``, ``learning_rate``, ... as ``GET /v1/jobs/{id}/metrics`` has them)."""

    epoch: int
    record: dict


@dataclass(frozen=True)
class EndEvent:
    """The last event of a job's stream: its final ``status``, its ``error`` (``type``, ``message``) or
    None, and its ``model_id`` (None unless it succeeded)."""

    status: str
    error: dict | None
    model_id: str | None


class Client(SweepsMixin):
    """One Axon server, over a single keep-alive connection pool; use it as a context manager.

    Parameters
    ----------
    url : The server's address; default ``AXON_URL``, else http://127.0.0.1:8000.
    key : API key sent as ``Authorization: Bearer``; default ``AXON_KEY``, else none.
    timeout : Seconds to wait for each response.
    transport : An httpx transport to use instead of the network (tests).
    """

    def __init__(self, url: str | None = None, key: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 transport: httpx.BaseTransport | None = None):
        self.url = (url or os.environ.get("AXON_URL") or DEFAULT_URL).rstrip("/")
        key = key if key is not None else os.environ.get("AXON_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # ---- datasets -----------------------------------------------------------------------------

    def create_dataset(self, features=None, targets=None, *, generator: str | Mapping | None = None,
                       name: str | None = None, task: str | None = None) -> dict:
        """Create a dataset from arrays (features (n_samples, n_features), targets (n_samples,)) or a generator.

        ``generator`` is a kind (``"spiral"``) or a mapping such as ``{"kind": "spiral", "n_samples": 400}``.
        """
        if generator is not None:
            if features is not None or targets is not None:
                raise ValueError("give either features and targets or a generator, not both")
            body: dict[str, Any] = {"generator": {"kind": generator} if isinstance(generator, str) else dict(generator)}
        elif features is None or targets is None:
            raise ValueError("give features and targets, or a generator")
        else:
            body = {"features": np.asarray(features, dtype=float).tolist(), "targets": np.asarray(targets).tolist()}
            if task is not None:
                body["task"] = task
        if name is not None:
            body["name"] = name
        return self._request("POST", "/v1/datasets", json=body).json()

    def upload_csv(self, path: str | os.PathLike, target: str, *, name: str | None = None,
                   task: str | None = None, columns: Mapping[str, str] | None = None) -> dict:
        """Create a dataset from a CSV (header row) or Parquet file; ``target`` names the target
        column, ``columns`` overrides column kinds (``{"year": "categorical", "name": "ignore"}``)."""
        path = Path(path)
        form = {"target": target, **({"name": name} if name else {}), **({"task": task} if task else {}),
                **({"columns": json.dumps(dict(columns))} if columns else {})}
        with path.open("rb") as file:
            return self._request("POST", "/v1/datasets", data=form,
                                 files={"file": (path.name, file, "text/csv")}).json()

    def datasets(self) -> list[dict]:
        """Every dataset, newest first."""
        return list(self._pages("/v1/datasets"))

    def dataset(self, dataset_id: str) -> dict:
        return self._request("GET", f"/v1/datasets/{dataset_id}").json()

    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a dataset; :class:`Conflict` while an unfinished job uses it."""
        self._request("DELETE", f"/v1/datasets/{dataset_id}")

    # ---- jobs ---------------------------------------------------------------------------------

    def submit(self, dataset_id: str, spec: Mapping) -> dict:
        """Queue a training job; ``spec`` is the network spec (only ``layers`` is required)."""
        return self._request("POST", "/v1/jobs", json={"dataset_id": dataset_id, "spec": dict(spec)}).json()

    def job(self, job_id: str) -> dict:
        return self._request("GET", f"/v1/jobs/{job_id}").json()

    def jobs(self, status: str | None = None) -> list[dict]:
        """Every job, newest first, or only those with ``status``."""
        return list(self._pages("/v1/jobs", params={"status": status} if status else None))

    def metrics(self, job_id: str) -> list[dict]:
        """Every epoch's record of a job, in epoch order."""
        return list(self._pages(f"/v1/jobs/{job_id}/metrics"))

    def cancel(self, job_id: str) -> dict:
        """Cancel a job (a running one stops at its next epoch); :class:`Conflict` once finished."""
        return self._request("POST", f"/v1/jobs/{job_id}/cancel").json()

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.5,
             on_progress: Callable[[dict], Any] | None = None, *, follow: bool = False,
             on_epoch: Callable[[EpochEvent], Any] | None = None) -> dict:
        """Wait until a job succeeded, failed or was cancelled, and return it.

        By default it polls the job every ``poll`` seconds and calls ``on_progress(job)`` after each
        poll. With ``follow`` (implied by ``on_epoch``) it reads the job's event stream instead, calls
        ``on_epoch(event)`` with every :class:`EpochEvent` as it happens, and fetches the job once at
        the end. :class:`TimeoutError` after ``timeout`` seconds either way.
        """
        if follow or on_epoch is not None:
            for event in self.events(job_id, timeout=timeout):
                if isinstance(event, EpochEvent) and on_epoch is not None:
                    on_epoch(event)
            return self.job(job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if on_progress is not None:
                on_progress(job)
            if job["status"] in FINISHED:
                return job
            if deadline is not None and time.monotonic() + poll > deadline:
                raise TimeoutError(f"job {job_id} is still {job['status']} after {timeout} s")
            time.sleep(poll)

    def events(self, job_id: str, after: int | None = None, *, reconnects: int = 5,
               timeout: float | None = None) -> Iterator[EpochEvent | EndEvent]:
        """Follow a job's event stream: an :class:`EpochEvent` for each epoch after ``after`` (all by
        default), in order, as each finishes, then one :class:`EndEvent`, after which it stops.

        If the connection drops before the end, it reconnects with ``Last-Event-ID`` set to the last
        epoch seen, so no epoch is lost or repeated; after ``reconnects`` failures in a row with no
        event between them it raises :class:`AxonUnavailable`, as it does at once when the first
        connection fails. While the server has no stream to spare (503 with Retry-After) it reads
        the new epochs and the job's status by polling, and tries the stream again when told.
        :class:`TimeoutError` once ``timeout`` seconds have passed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        last_epoch, failures, first = after, 0, True
        while True:
            try:
                for event in self._event_stream(job_id, last_epoch, deadline):
                    failures = 0
                    yield event
                    if isinstance(event, EndEvent):
                        return
                    last_epoch = event.epoch
                    if deadline is not None and time.monotonic() >= deadline:
                        raise TimeoutError(f"job {job_id} has not ended after {timeout} s")
                reason = "the stream ended before the job did"  # A server restart, or its hour-long cap.
            except httpx.TransportError as error:
                reason = str(error) or type(error).__name__
                if first and isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout)):
                    raise AxonUnavailable(self.url, reason) from error  # Nobody there: no point retrying.
            except ServerError as error:
                if error.status != 503 or error.retry_after is None:
                    raise
                polled = self._poll_while_busy(job_id, last_epoch, min(error.retry_after, MAX_BUSY_WAIT_SECONDS),
                                               deadline, timeout)
                try:
                    for event in polled:
                        yield event
                        if isinstance(event, EndEvent):
                            return
                        last_epoch = event.epoch
                except AxonUnavailable as unreachable:  # Polling lost the server: a drop like any other.
                    reason = unreachable.detail
                else:
                    first, failures = False, 0
                    continue
            first = False
            failures += 1
            if deadline is not None and time.monotonic() + RECONNECT_SECONDS * failures >= deadline:
                raise TimeoutError(f"job {job_id} has not ended after {timeout} s")
            if failures > reconnects:
                raise AxonUnavailable(self.url, f"the event stream of job {job_id} dropped "
                                                f"{failures} times in a row; last: {reason}")
            time.sleep(RECONNECT_SECONDS * failures)

    def _event_stream(self, job_id: str, after: int | None,
                      deadline: float | None) -> Iterator[EpochEvent | EndEvent]:
        """One connection to ``GET /v1/jobs/{id}/events``, as typed events (httpx-sse parses the
        stream per the WHATWG rules: multi-line data, comments, dispatch on a blank line)."""
        headers = {"Accept": "text/event-stream"}
        if after is not None:  # The server resumes after this epoch; it is how EventSource reconnects.
            headers["Last-Event-ID"] = str(after)
        timeout = self._http.timeout
        if deadline is not None:  # Never block in one read past the caller's deadline.
            remaining = max(deadline - time.monotonic(), 0.01)
            timeout = httpx.Timeout(timeout.connect, read=min(timeout.read or remaining, remaining),
                                    write=timeout.write, pool=timeout.pool)
        with self._http.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=timeout) as response:
            if response.is_error:
                response.read()
                raise problem_error(response)
            try:
                for sse in EventSource(response).iter_sse():
                    if sse.event == "epoch":
                        yield EpochEvent(int(sse.id), json.loads(sse.data))
                    elif sse.event == "end":
                        end = json.loads(sse.data)
                        yield EndEvent(end["status"], end.get("error"), end.get("model_id"))
                    # Any other event type is newer than this client: skip it.
            except SSEError as error:  # A 200 that is not an event stream: a proxy's page, say.
                raise ServerError(response.status_code, "Not an event stream", str(error)) from None

    def _poll_while_busy(self, job_id: str, after: int | None, wait: float, deadline: float | None,
                         timeout: float | None) -> Iterator[EpochEvent | EndEvent]:
        """What the stream would send, by polling every BUSY_POLL_SECONDS for ``wait`` seconds (the
        server's Retry-After), or until the job ends; :class:`TimeoutError` at ``deadline``."""
        retry_at = time.monotonic() + wait
        while True:
            for event in self._polled_events(job_id, after):
                yield event
                if isinstance(event, EndEvent):
                    return
                after = event.epoch
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise TimeoutError(f"job {job_id} has not ended after {timeout} s")
            if now >= retry_at:
                return
            time.sleep(min(BUSY_POLL_SECONDS, retry_at - now, math.inf if deadline is None else deadline - now))

    def _polled_events(self, job_id: str, after: int | None) -> Iterator[EpochEvent | EndEvent]:
        """What the stream would have sent since ``after``, by polling: the new epochs, then the end
        if the job has finished (its status read first, so every epoch it wrote is in the metrics)."""
        job = self.job(job_id)
        path = f"/v1/jobs/{job_id}/metrics"
        for record in self._pages(path, params=None if after is None else {"after": after}):
            yield EpochEvent(int(record["epoch"]), record)
        if job["status"] in FINISHED:
            yield EndEvent(job["status"], job.get("error"), job.get("model_id"))

    # ---- models -------------------------------------------------------------------------------

    def model(self, model_id: str) -> dict:
        return self._request("GET", f"/v1/models/{model_id}").json()

    def predict(self, model_id: str, inputs) -> Prediction:
        """Predict ``inputs``: an array or list of rows of numbers (n_rows, n_features), a list of
        records (``{"column": value}``), or a pandas DataFrame (sent by column name)."""
        if hasattr(inputs, "columns") and hasattr(inputs, "to_json"):  # A DataFrame: MLflow's dataframe_split.
            body = json.loads(inputs.to_json(orient="split", date_format="iso", index=False))
        elif isinstance(inputs, list) and inputs and isinstance(inputs[0], Mapping):
            body = {"inputs": [dict(record) for record in inputs]}
        else:
            rows = np.asarray(inputs, dtype=float)
            if rows.ndim != 2:
                raise ValueError(f"inputs must be 2-D (n_rows, n_features), got shape {rows.shape}")
            body = {"inputs": rows.tolist()}
        return self._prediction(self._request("POST", f"/v1/models/{model_id}/predict", json=body).json())

    def predict_csv(self, model_id: str, text: str) -> Prediction:
        """Predict the rows of a CSV text; with a header its columns are matched by name."""
        return self._prediction(self._request("POST", f"/v1/models/{model_id}/predict", content=text.encode(),
                                              headers={"Content-Type": "text/csv"}).json())

    @staticmethod
    def _prediction(answer: dict) -> Prediction:
        probabilities = answer.get("probabilities")
        return Prediction(np.asarray(answer["predictions"]),
                          None if probabilities is None else np.asarray(probabilities, dtype=float),
                          answer.get("classes"))

    def evaluate(self, model_id: str, dataset_id: str | None = None, *, inputs=None, targets=None) -> dict:
        """The model's evaluation report on the dataset ``dataset_id``, or on labelled rows:
        ``inputs`` (n_rows, n_features) and ``targets`` (n_rows,). ``client.model(id)["evaluation"]``
        is the report training stored (on its validation split)."""
        if (dataset_id is None) == (inputs is None):
            raise ValueError("give either dataset_id or inputs (with targets)")
        if dataset_id is not None:
            body: dict = {"dataset_id": dataset_id}
        else:
            if targets is None:
                raise ValueError("inputs need their targets")
            rows = np.asarray(inputs, dtype=float)
            if rows.ndim != 2:
                raise ValueError(f"inputs must be 2-D (n_rows, n_features), got shape {rows.shape}")
            body = {"inputs": rows.tolist(), "targets": np.asarray(targets).tolist()}
        return self._request("POST", f"/v1/models/{model_id}/evaluate", json=body).json()

    def export(self, model_id: str, path: str | os.PathLike, format: str = "npz") -> Path:
        """Write the model to ``path`` and return the path: ``format="npz"``, the artefact
        (``mlp.Model.from_bytes`` loads it), or ``"onnx"``, the ONNX model (see ``axon.onnx_export``)."""
        if format not in EXPORT_ROUTES:
            raise ValueError(f"format must be one of {', '.join(EXPORT_ROUTES)}, got {format!r}")
        blob = self._request("GET", f"/v1/models/{model_id}/{EXPORT_ROUTES[format]}").content
        path = Path(path)
        path.write_bytes(blob)
        return path

    # ---- plumbing -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise AxonUnavailable(self.url, str(error) or type(error).__name__) from error
        if response.is_error:
            raise problem_error(response)
        return response

    def _pages(self, path: str, params: dict | None = None) -> Iterator[dict]:
        # Each page's ``next`` is a path carrying every parameter, so only the first takes params.
        page = self._request("GET", path, params=params).json()
        yield from page["items"]
        while page["next"]:
            page = self._request("GET", page["next"]).json()
            yield from page["items"]
