"""Predict over loopback HTTP for bench/service.py: latency, throughput against a bare Flask endpoint, CPU.

Latency is measured with two keep-alive clients: httpx, and the standard library's http.client,
which spends a fraction of httpx's CPU per request; on a small machine the client's own CPU is a
large part of a single-row round trip, so both are shown. Throughput uses http.client threads, so
the client takes as little of the cores the servers need as it can.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import numpy as np

from service.app_state import app_state
from service.commands.supervisor import APP_FACTORY
from service import create_app
from service_bare_app import app as bare_app
from service_processes import API_HEADERS, REPO, gunicorn

PREDICT_BODY = {"inputs": [[0.5, -1.2]]}
BODY_BYTES = json.dumps(PREDICT_BODY).encode()
JSON_HEADERS = {"Content-Type": "application/json"}
CLIENTS = ("http.client", "httpx")


@contextlib.contextmanager
def poster(client_kind: str, url: str) -> Iterator[Callable[[str], int]]:
    """A keep-alive client of ``client_kind``: a function that POSTs the predict body to a path; returns the status."""
    if client_kind == "httpx":
        with httpx.Client(base_url=url, timeout=10, headers=API_HEADERS) as client:
            yield lambda path: client.post(path, json=PREDICT_BODY).status_code
        return
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)

    def post(path: str) -> int:
        # It reconnects by itself when the server closes the connection (gunicorn's sync worker does).
        connection.request("POST", path, body=BODY_BYTES, headers={**JSON_HEADERS, **API_HEADERS})
        response = connection.getresponse()
        response.read()
        return response.status

    try:
        yield post
    finally:
        connection.close()


def latencies(client_kind: str, url: str, path: str, n_requests: int) -> tuple[np.ndarray, float]:
    """Seconds per sequential POST after a 10 % warm-up, and the client's CPU seconds per POST."""
    seconds, n_warm_up = [], n_requests // 10
    with poster(client_kind, url) as post:
        for index in range(n_warm_up + n_requests):
            if index == n_warm_up:
                cpu_began = time.process_time()
            began = time.perf_counter()
            if post(path) != 200:
                raise RuntimeError(f"POST {url}{path} did not answer 200")
            if index >= n_warm_up:
                seconds.append(time.perf_counter() - began)
    return np.array(seconds), (time.process_time() - cpu_began) / n_requests


def throughput(url: str, path: str, n_threads: int, duration: float) -> tuple[float, float]:
    """(200 responses per second, this client's share of the machine's CPU) with ``n_threads`` clients."""
    counts = [0] * n_threads
    deadline = time.perf_counter() + duration

    def hammer(index: int) -> None:
        with poster("http.client", url) as post:
            while time.perf_counter() < deadline:
                counts[index] += post(path) == 200

    elapsed, client_share = concurrently(hammer, n_threads)
    return sum(counts) / elapsed, client_share


def concurrently(client: Callable[[int], None], n_threads: int) -> tuple[float, float]:
    """Run ``client(index)`` in ``n_threads`` threads at once and wait for them all.

    Returns (wall seconds, this process's share of the machine's CPU meanwhile): a client that
    takes much of the CPU slows the servers it measures, so the benchmarks report it.
    """
    threads = [threading.Thread(target=client, args=(index,)) for index in range(n_threads)]
    began, cpu_began = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return elapsed, (time.process_time() - cpu_began) / elapsed / len(os.sched_getaffinity(0))


def predict_measures(env: dict, logs: Path, model_id: str, threads: int, n_requests: int, duration: float) -> dict:
    """Axon's single-row predict and the bare endpoint, each under gunicorn 2 workers × ``threads``.

    Returns ``latency[client_kind]`` = (Axon's seconds, the bare endpoint's, client CPU seconds per
    request), the two throughputs (requests/s) and the most of the machine's CPU the client used.
    """
    axon_path, bare_path = f"/v1/models/{model_id}/predict", "/predict"
    with gunicorn(env, logs, APP_FACTORY, threads) as axon_url, \
            gunicorn(env, logs, "service_bare_app:app", threads, cwd=REPO / "bench") as bare_url:
        latency = {}
        for client_kind in CLIENTS:
            axon, client_cpu = latencies(client_kind, axon_url, axon_path, n_requests)
            latency[client_kind] = (axon, latencies(client_kind, bare_url, bare_path, n_requests)[0], client_cpu)
        rates, servers = {"axon": [], "bare": []}, {"axon": (axon_url, axon_path), "bare": (bare_url, bare_path)}
        for order in ("axon", "bare", "bare", "axon", "axon", "bare", "bare", "axon"):
            # Short turns in ABBA order, so load that comes and goes hits both servers alike.
            rates[order].append(throughput(*servers[order], 8, duration / 4))
    return {"latency": latency, **{f"{name}_rate": np.mean([rate for rate, _ in rates[name]]) for name in rates},
            "client_share": max(share for name in rates for _, share in rates[name])}


def in_process_cpu(database_url: str, broker_url: str, model_id: str, n_requests: int) -> tuple[float, float]:
    """CPU seconds per predict through Flask's test client (no HTTP, no server, no client): Axon's, the bare app's."""
    axon_app = create_app({"database_url": database_url, "broker_url": broker_url})
    cpu_per_request = []
    for app, path in ((axon_app, f"/v1/models/{model_id}/predict"), (bare_app, "/predict")):
        client = app.test_client()
        for index in range(n_requests + n_requests // 10):
            if index == n_requests // 10:
                cpu_began = time.process_time()
            if client.post(path, json=PREDICT_BODY, headers=API_HEADERS).status_code != 200:
                raise RuntimeError(f"in-process POST {path} did not answer 200")
        cpu_per_request.append((time.process_time() - cpu_began) / n_requests)
    app_state(axon_app).engine.dispose()
    return cpu_per_request[0], cpu_per_request[1]
