"""Peak memory of the API process for one big request: a CSV upload, a JSON upload, many-class predicts.

Each case starts a fresh API process (the app under Werkzeug's single-threaded server, SQLite,
keys off), warms it with a small request of the same kind, sends the big one over loopback, and
reads the process's peak resident memory (``VmHWM``) from /proc; the figure is that peak less
the process's resident memory just before the big request, against its body size. The client
runs in this process, so its copy of the body is not counted.

    python bench/memory.py [--cases csv,json,predict,predict-2000] [--megabytes 50] [--repo PATH]

``--repo`` runs the API from another checkout (an older commit, for a before/after table).
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
N_FEATURES = 10
PREDICT_CLASSES, PREDICT_FEATURES = 1000, 4
# Rows per predict case: 10,000 (10^7 probabilities), and 2,000, the most AXON_MAX_PREDICT_VALUES'
# default lets a 1,000-class model answer.
PREDICT_ROWS = {"predict": 10_000, "predict-2000": 2_000}


def serve(port: int, home: str, with_model: bool) -> None:
    """The API process: migrate a fresh SQLite database, optionally add a 1,000-class model, serve."""
    # This script's folder holds bench/service.py, which must not shadow the service package.
    sys.path[:] = [entry for entry in sys.path if Path(entry).resolve() != Path(__file__).resolve().parent]
    import migrations
    from werkzeug.serving import make_server

    from service import create_app

    database_url = f"sqlite:///{home}/axon.db"
    migrations.upgrade(database_url)
    app = create_app({"database_url": database_url, "broker_url": "memory://", "auth": False,
                      "max_body_bytes": 256 * 2**20})
    if with_model:
        add_many_class_model(app)
    print(f"serving {sys.modules['service'].__file__}", file=sys.stderr, flush=True)
    make_server("127.0.0.1", port, app, threaded=False).serve_forever()


def add_many_class_model(app) -> None:
    """A trained 1,000-class model (one epoch on 2,000 rows), stored as the worker stores one."""
    from mlp import NetworkSpec, fit
    from service.app_state import app_state
    from service.database import utcnow
    from service.tables import LOCAL_TENANT, Job, Tenant, TrainedModel

    rng = np.random.default_rng(0)
    labels = np.arange(2 * PREDICT_CLASSES) % PREDICT_CLASSES
    spec = NetworkSpec.model_validate({"layers": [{"units": 16}], "epochs": 1, "device": "cpu", "validation_split": 0})
    model = fit(spec, rng.normal(size=(len(labels), PREDICT_FEATURES)), labels).model
    with app_state(app).sessions() as session:
        if session.get(Tenant, LOCAL_TENANT) is None:
            session.add(Tenant(name=LOCAL_TENANT))
        job = Job(tenant=LOCAL_TENANT, dataset_id=None, spec=model.meta["spec"], status="succeeded", epochs=1,
                  epoch=1, finished_at=utcnow())
        session.add(job)
        session.flush()
        session.add(TrainedModel(id="manyclasses", tenant=LOCAL_TENANT, job_id=job.id, task=model.task,
                                 n_features=model.n_features, classes=model.classes, spec=model.meta["spec"],
                                 metrics=model.metrics, artefact=model.to_bytes()))
        session.commit()


def csv_body(megabytes: float) -> bytes:
    """A dataset CSV of about ``megabytes``: N_FEATURES float columns with 6 decimals and a label."""
    rng = np.random.default_rng(1)
    n_rows = int(megabytes * 1e6 / (N_FEATURES * 9.35 + 5))  # Bytes per row of these numbers and labels.
    values = rng.normal(size=(n_rows, N_FEATURES))
    buffer = io.StringIO()
    buffer.write(",".join(f"x{index}" for index in range(N_FEATURES)) + ",label\n")
    np.savetxt(buffer, values, fmt="%.6f", delimiter=",")
    lines = buffer.getvalue().splitlines()
    labels = ["", *(["cat", "dog", "eel"][index % 3] for index in range(n_rows))]
    return "\n".join(f"{line},{label}" if index else line for index, (line, label) in
                     enumerate(zip(lines, labels))).encode() + b"\n"


def json_body(megabytes: float) -> bytes:
    rng = np.random.default_rng(1)
    n_rows = int(megabytes * 1e6 / (N_FEATURES * 9.35 + 6))
    features = ",".join("[" + ",".join(f"{value:.6f}" for value in row) + "]"
                        for row in rng.normal(size=(n_rows, N_FEATURES)))
    targets = ",".join(str(index % 3) for index in range(n_rows))
    return f'{{"features": [{features}], "targets": [{targets}]}}'.encode()


def send(case: str, url: str, megabytes: float) -> tuple[bytes, httpx.Response]:
    """Send the case's request of about ``megabytes`` (predict: its PREDICT_ROWS, or 10 when tiny)."""
    if case == "csv":
        body = csv_body(megabytes)
        return body, httpx.post(f"{url}/v1/datasets", files={"file": ("bench.csv", body, "text/csv")},
                                data={"target": "label"}, timeout=600)
    if case == "json":
        body = json_body(megabytes)
        return body, httpx.post(f"{url}/v1/datasets", content=body, headers={"Content-Type": "application/json"},
                                timeout=600)
    n_rows = PREDICT_ROWS[case] if megabytes >= 1 else 10
    rows = np.random.default_rng(2).normal(size=(n_rows, PREDICT_FEATURES)).round(4).tolist()
    body = httpx.Request("POST", url, json={"inputs": rows}).content
    return body, httpx.post(f"{url}/v1/models/manyclasses/predict", content=body,
                            headers={"Content-Type": "application/json"}, timeout=600)


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def measure(case: str, megabytes: float, repo: Path) -> dict:
    """Start an API process from ``repo``, send the case's request, return its figures."""
    port = free_port()
    env = {**{name: value for name, value in os.environ.items() if not name.startswith("AXON_")},
           "PYTHONPATH": str(repo)}
    with tempfile.TemporaryDirectory(prefix="axon-bench-memory-") as home:
        argv = [sys.executable, str(REPO / "bench" / "memory.py"), "--serve", str(port), home]
        if case.startswith("predict"):
            argv.append("--with-model")
        server = subprocess.Popen(argv, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not start: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.2)
            served = server.stderr.readline().decode().strip()
            # A small request of the same kind first: what a process loads once (imports, caches,
            # the model) is not this request's cost.
            send(case, url, 0.01)
            before_kib = status_kib(server.pid, "VmRSS")
            began = time.perf_counter()
            body, response = send(case, url, megabytes)
            seconds = time.perf_counter() - began
            peak_kib = status_kib(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(20)
    growth = (peak_kib - before_kib) * 1024
    return {"served": served, "case": case, "status": response.status_code, "body_mb": len(body) / 1e6,
            "answer_mb": len(response.content) / 1e6, "before_mib": before_kib / 1024,
            "peak_mib": peak_kib / 1024, "growth_mib": growth / 2**20, "ratio": growth / len(body),
            "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="csv,json,predict,predict-2000")
    parser.add_argument("--megabytes", type=float, default=50.0)
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "HOME"), help=argparse.SUPPRESS)
    parser.add_argument("--with-model", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        serve(int(arguments.serve[0]), arguments.serve[1], arguments.with_model)
        return
    print(f"API from {arguments.repo}")
    print("| case | status | body MB | answer MB | RSS before MiB | peak MiB | growth MiB | growth / body | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for case in arguments.cases.split(","):
        row = measure(case, arguments.megabytes, arguments.repo.resolve())
        assert row["served"].endswith(str(arguments.repo.resolve() / "service" / "__init__.py")), row["served"]
        print(f"| {row['case']} | {row['status']} | {row['body_mb']:.1f} | {row['answer_mb']:.1f} | "
              f"{row['before_mib']:.0f} | {row['peak_mib']:.0f} | {row['growth_mib']:.0f} | "
              f"{row['ratio']:.1f}x | {row['seconds']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
