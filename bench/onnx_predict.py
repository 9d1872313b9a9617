"""Predict throughput of Axon in process, of Axon's HTTP predict and of onnxruntime on the ONNX export.

For the tabular (64->256->256->10 relu) and wide (64->512->512->10 relu) shapes of bench/engine.py,
in float32, it times a 1-row and a 10,000-row predict of the same raw float64 rows: ``Model.predict``
in this process; ``POST /v1/models/{id}/predict`` to ``axon api`` (waitress, on a free loopback port,
a throwaway migrated SQLite database holding the model, an API key) over one keep-alive
http.client connection, the JSON body serialised once beforehand; and ``InferenceSession.run`` of
the export. With ``--compare REV`` it also times ``Model.predict`` of the engine as it was at git
revision REV (``git archive REV mlp``, imported beside this one), on the same rows in the same
run. Each figure is rows/s from the best of the repetitions: the in-process ways interleaved, so
that noise hits them alike, then the HTTP predict. The target (issue 17): Axon's 10,000-row
predict in process at least 0.8x onnxruntime's. BLAS (threadpoolctl, and the API's
OPENBLAS_NUM_THREADS) and onnxruntime's intra-op pool get the same threads, by default every core
the process may use. It checks that every way
gives the same labels before timing, and always exits 0: a benchmark, not a test.

    .venv/bin/python bench/onnx_predict.py [--repeats 7] [--threads N] [--compare REV] [--no-http]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import onnxruntime
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from axon.onnx_export import to_onnx  # noqa: E402
from mlp import Model, NetworkSpec, fit  # noqa: E402
from report import cpu_model, load_average, verdict  # noqa: E402
from service_processes import (API_HEADERS, REPO, axon_api, bench_api_key, insert_trained_model,  # noqa: E402
                               sqlite_database)

N_CORES = len(os.sched_getaffinity(0))
SHAPES = {"tabular 64→256→256→10 relu": (256, 256), "wide 64→512→512→10 relu": (512, 512)}
N_FEATURES, N_CLASSES = 64, 10
BATCH_ROWS = (1, 10_000)
TARGET = 0.8  # Axon's 10,000-row rows/s over onnxruntime's.
CALLS = {1: 2_000, 10_000: 5}  # Calls in a row per timing, by rows per call; HTTP makes fewer:
HTTP_CALLS = {1: 200, 10_000: 1}


def trained(hidden: tuple[int, ...]) -> Model:
    """A model of the shape; one epoch on random data: the weights' values do not change the timing."""
    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(2_000, N_FEATURES)), rng.integers(0, N_CLASSES, 2_000)
    spec = NetworkSpec(layers=[{"units": units, "activation": "relu"} for units in hidden], epochs=1,
                       batch_size=256, device="cpu")
    return fit(spec, features, labels).model


def session_of(model: Model, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(to_onnx(model).SerializeToString(), options,
                                        providers=["CPUExecutionProvider"])


def engine_at(revision: str, folder: Path):
    """The ``mlp`` package as it was at git ``revision``, imported as ``mlp_at_revision``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "mlp"], capture_output=True, check=True)
    tarfile.open(fileobj=io.BytesIO(archive.stdout)).extractall(folder, filter="data")
    spec = importlib.util.spec_from_file_location("mlp_at_revision", folder / "mlp" / "__init__.py",
                                                  submodule_search_locations=[str(folder / "mlp")])
    package = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = package  # Its relative imports resolve through this name.
    spec.loader.exec_module(package)
    return package


class HttpPredict:
    """POSTs of one prepared JSON body to a model's predict route over one keep-alive connection."""

    def __init__(self, url: str, model_id: str, rows: np.ndarray):
        address = urlsplit(url)
        self.connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
        self.path = f"/v1/models/{model_id}/predict"
        self.body = json.dumps({"inputs": rows.tolist()}).encode()
        self.headers = {"Content-Type": "application/json", **API_HEADERS}

    def __call__(self) -> bytes:
        self.connection.request("POST", self.path, body=self.body, headers=self.headers)
        response = self.connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {self.path} answered {response.status}: {answer[:300]!r}")
        return answer

    def labels(self) -> list:
        return json.loads(self())["predictions"]


def mean_seconds(call, n_calls: int) -> float:
    """Mean wall seconds per call over ``n_calls`` calls in a row."""
    start = time.perf_counter()
    for _ in range(n_calls):
        call()
    return (time.perf_counter() - start) / n_calls


def blas_kernel() -> str:
    pools = [f"{pool['internal_api']} {pool['version']} ({pool.get('architecture')}, {pool['num_threads']} threads)"
             for pool in threadpool_info() if pool["user_api"] == "blas"]
    forced = {name: os.environ[name] for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if name in os.environ}
    return ", ".join(pools) + (f"; forced by {forced}" if forced else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=N_CORES, help="threads for each (default: every usable core)")
    parser.add_argument("--compare", metavar="REV", help="also time Model.predict of the engine at git revision REV")
    parser.add_argument("--no-http", action="store_true", help="leave out the HTTP predict")
    args = parser.parse_args()
    with threadpool_limits(args.threads):
        print(f"- CPU: {cpu_model()}, {N_CORES} cores usable\n- numpy {np.__version__}, onnxruntime "
              f"{onnxruntime.__version__}; {args.threads} thread(s) each (BLAS, intra-op pool)\n"
              f"- BLAS: {blas_kernel()}\n- load average at start: {load_average()}")
        with tempfile.TemporaryDirectory(prefix="axon-onnx-bench-") as folder:
            compare(args, Path(folder))
    print(f"\n- load average at the end: {load_average()}")


def compare(args, folder: Path) -> None:
    before = engine_at(args.compare, folder / "before") if args.compare else None
    models = {name: trained(hidden) for name, hidden in SHAPES.items()}
    with contextlib.ExitStack() as stack:
        url = model_ids = None
        if not args.no_http:
            database_url = sqlite_database(folder)
            model_ids = {name: insert_trained_model(database_url, model) for name, model in models.items()}
            bench_api_key(database_url)
            env = {name: value for name, value in os.environ.items() if not name.startswith("AXON_")}
            env.update({name: str(args.threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
                       AXON_DATABASE_URL=database_url, AXON_HOME=str(folder / "home"), PYTHONPATH=str(REPO),
                       AXON_RATE_LIMIT="100000000/minute")  # The bench times answers, not 429s.
            url = stack.enter_context(axon_api(env, folder))
        columns = ["axon rows/s", *([f"axon at {args.compare} rows/s"] if before else []), "onnxruntime rows/s",
                   *([] if args.no_http else ["HTTP predict rows/s"]), "axon/onnxruntime", "target"]
        print(f"\n| shape | rows per call | {' | '.join(columns)} |\n|---|---:|{'---:|' * (len(columns) - 1)}---|")
        rng = np.random.default_rng(1)
        for name, model in models.items():
            session = session_of(model, args.threads)
            old_model = before.Model.from_bytes(model.to_bytes()) if before else None
            for n_rows in BATCH_ROWS:
                rows = rng.normal(size=(n_rows, N_FEATURES))
                ways = {"axon": (lambda: model.predict(rows), CALLS[n_rows]),
                        "onnxruntime": (lambda: session.run(None, {"features": rows}), CALLS[n_rows])}
                expected = model.predict(rows).predictions.tolist()
                answers = {"onnxruntime": session.run(["label"], {"features": rows})[0].tolist()}
                if old_model is not None:
                    ways["before"] = (lambda: old_model.predict(rows), CALLS[n_rows])
                    answers["before"] = old_model.predict(rows).predictions.tolist()
                if url is not None:
                    post = HttpPredict(url, model_ids[name], rows)
                    stack.callback(post.connection.close)
                    ways["http"] = (post, HTTP_CALLS[n_rows])
                    answers["http"] = post.labels()
                wrong = [way for way, labels in answers.items() if labels != expected]
                assert not wrong, f"{wrong} disagree with Model.predict"
                seconds = {way: float("inf") for way in ways}
                # In process: interleaved, one run of each, again and again. HTTP after them: the API
                # process goes on working after it answers (freeing a 10,000-row body), which would
                # slow whatever ran next.
                for in_process in (True, False):
                    for _ in range(args.repeats):
                        for way, (call, n_calls) in ways.items():
                            if (way != "http") == in_process:
                                seconds[way] = min(seconds[way], mean_seconds(call, n_calls))
                ratio = seconds["onnxruntime"] / seconds["axon"]
                goal = f"≥ {TARGET}× {verdict(ratio >= TARGET)}" if n_rows > 1 else "-"
                rates = [n_rows / seconds[way] for way in ("axon", "before", "onnxruntime", "http") if way in ways]
                print(f"| {name} | {n_rows:,} | " + " | ".join(f"{rate:,.0f}" for rate in rates)
                      + f" | {ratio:.2f}× | {goal} |")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
