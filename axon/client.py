"""A Python client for the Axon HTTP API: datasets, jobs, metrics, models and predict.

It needs only httpx and NumPy, never Flask, Celery or SQLAlchemy, so it installs and imports
anywhere. Each error the API answers (RFC 9457 problem+json) is raised as a typed
:class:`AxonError` carrying the problem's fields; a server that cannot be reached is
:class:`AxonUnavailable`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import httpx
import numpy as np

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
FINISHED = frozenset({"succeeded", "failed", "cancelled"})


class AxonError(Exception):
    """An error the API answered: the problem's ``status``, ``title``, ``detail`` and field ``errors``."""

    def __init__(self, status: int | None, title: str, detail: str, errors: list[dict] | None = None,
                 type: str = "about:blank"):
        super().__init__(f"{title}: {detail}")
        self.status, self.title, self.detail, self.type = status, title, detail, type
        self.errors = errors or []


class InvalidRequest(AxonError):
    """The request was refused as sent (400, 413, 415, 422); ``errors`` names each bad part."""


class NotFound(AxonError):
    """No resource with that id (404)."""


class Conflict(AxonError):
    """The resource's state does not allow this (409), e.g. cancelling a finished job."""


class ServerError(AxonError):
    """The server failed (5xx): a bug in Axon or a dependency that is down."""


class AxonUnavailable(AxonError):
    """No answer from the server: refused, unreachable or timed out."""

    def __init__(self, url: str, reason: str):
        super().__init__(None, "Unavailable", f"cannot reach Axon at {url}: {reason}")


ERRORS_BY_STATUS = {400: InvalidRequest, 404: NotFound, 409: Conflict, 413: InvalidRequest,
                    415: InvalidRequest, 422: InvalidRequest}


def problem_error(response: httpx.Response) -> AxonError:
    """The typed error for an error ``response``, from its problem+json body when it has one."""
    status = response.status_code
    kind = ERRORS_BY_STATUS.get(status, ServerError if status >= 500 else AxonError)
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):  # A proxy's HTML page, say: keep what little it says.
        return kind(status, response.reason_phrase, response.text.strip()[:200] or response.reason_phrase)
    return kind(status, problem.get("title", response.reason_phrase), problem.get("detail", ""),
                problem.get("errors"), problem.get("type", "about:blank"))


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


class Client:
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
                   task: str | None = None) -> dict:
        """Create a dataset from a CSV file with a header row; ``target`` names the target column."""
        path = Path(path)
        form = {"target": target, **({"name": name} if name else {}), **({"task": task} if task else {})}
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
             on_progress: Callable[[dict], Any] | None = None) -> dict:
        """Poll a job until it succeeded, failed or was cancelled, and return it.

        ``on_progress(job)`` is called after each poll; :class:`TimeoutError` after ``timeout`` seconds.
        """
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

    # ---- models -------------------------------------------------------------------------------

    def model(self, model_id: str) -> dict:
        return self._request("GET", f"/v1/models/{model_id}").json()

    def predict(self, model_id: str, inputs) -> Prediction:
        """Predict (n_rows, n_features) ``inputs``, an array or a list of rows."""
        rows = np.asarray(inputs, dtype=float)
        if rows.ndim != 2:
            raise ValueError(f"inputs must be 2-D (n_rows, n_features), got shape {rows.shape}")
        answer = self._request("POST", f"/v1/models/{model_id}/predict", json={"inputs": rows.tolist()}).json()
        probabilities = answer.get("probabilities")
        return Prediction(np.asarray(answer["predictions"]),
                          None if probabilities is None else np.asarray(probabilities, dtype=float),
                          answer.get("classes"))

    def export(self, model_id: str, path: str | os.PathLike) -> Path:
        """Write the model's npz artefact to ``path`` (``mlp.Model.from_bytes`` loads it); returns the path."""
        blob = self._request("GET", f"/v1/models/{model_id}/weights").content
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
