"""Predict throughput of Axon's in-process ``Model.predict`` against onnxruntime on the ONNX export.

For the tabular (64->256->256->10 relu) and wide (64->512->512->10 relu) shapes of bench/engine.py,
in float32, it times a 1-row and a 10,000-row predict of the same raw float64 rows both ways and
prints rows/s (the best of the repetitions, interleaved so noise hits both alike) and the ratio.
The target (issue 17): Axon's 10,000-row predict at least 0.8x onnxruntime's. Both run on the same
number of threads (NumPy's BLAS through threadpoolctl, onnxruntime's intra-op pool), by default
every core the process may use. It checks that both give the same labels before timing, and
always exits 0: a benchmark, not a test.

    .venv/bin/python bench/onnx_predict.py [--repeats 7] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from axon.onnx_export import to_onnx  # noqa: E402
from mlp import Model, NetworkSpec, fit  # noqa: E402
from report import cpu_model, load_average, verdict  # noqa: E402

N_CORES = len(os.sched_getaffinity(0))
SHAPES = {"tabular 64→256→256→10 relu": (256, 256), "wide 64→512→512→10 relu": (512, 512)}
N_FEATURES, N_CLASSES = 64, 10
BATCH_ROWS = (1, 10_000)
TARGET = 0.8  # Axon's 10,000-row rows/s over onnxruntime's.


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


def mean_seconds(call, n_calls: int) -> float:
    """Mean wall seconds per call over ``n_calls`` calls in a row."""
    start = time.perf_counter()
    for _ in range(n_calls):
        call()
    return (time.perf_counter() - start) / n_calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=N_CORES, help="threads for each (default: every usable core)")
    args = parser.parse_args()
    print(f"- CPU: {cpu_model()}, {N_CORES} cores usable\n- numpy {np.__version__}, onnxruntime "
          f"{onnxruntime.__version__}; {args.threads} thread(s) each (BLAS, intra-op pool)\n"
          f"- load average at start: {load_average()}")
    with threadpool_limits(args.threads):
        compare(args.repeats, args.threads)
    print(f"\n- load average at the end: {load_average()}")


def compare(repeats: int, threads: int) -> None:
    print("\n| shape | rows per call | axon rows/s | onnxruntime rows/s | axon/onnxruntime | target |\n"
          "|---|---:|---:|---:|---:|---|")
    rng = np.random.default_rng(1)
    for name, hidden in SHAPES.items():
        model = trained(hidden)
        session = session_of(model, threads)
        for n_rows in BATCH_ROWS:
            rows = rng.normal(size=(n_rows, N_FEATURES))
            labels = session.run(["label"], {"features": rows})[0]
            assert labels.tolist() == model.predict(rows).predictions.tolist(), "the export disagrees with Axon"
            n_calls = 2_000 if n_rows == 1 else 5
            axon_seconds = onnx_seconds = float("inf")
            for _ in range(repeats):  # Interleaved: one run of each, again and again.
                axon_seconds = min(axon_seconds, mean_seconds(lambda: model.predict(rows), n_calls))
                onnx_seconds = min(onnx_seconds, mean_seconds(lambda: session.run(None, {"features": rows}), n_calls))
            ratio = onnx_seconds / axon_seconds
            goal = f"≥ {TARGET}× {verdict(ratio >= TARGET)}" if n_rows > 1 else "-"
            print(f"| {name} | {n_rows:,} | {n_rows / axon_seconds:,.0f} | {n_rows / onnx_seconds:,.0f} | "
                  f"{ratio:.2f}× | {goal} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
