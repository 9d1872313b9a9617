"""The wide shape's pieces, one at a time (issue 14, point 4): GEMM layouts, derivatives, bias gradients.

On (1024, 512) float32 arrays (the wide shape's hidden layers at batch 1024) and a (512, 512)
weight matrix, best of 10 × 5 calls each, at 1 and 2 BLAS threads:

- the forward GEMM ``A @ W`` against the weight-gradient GEMM as the engine writes it,
  ``A.T @ D`` (a transposed view; BLAS takes it as is), and as ``(D.T @ A)`` into ``G.T``;
- the delta GEMM ``D @ W.T``;
- tanh's derivative through fresh temporaries (``delta * (1 - a * a)``) and through one scratch buffer;
- ReLU's through a boolean temporary and through a float mask in scratch;
- bias gradients as ``D.sum(axis=0)`` and as ``ones @ D`` (a GEMV).

Run: ``.venv/bin/python bench/wide_kernels.py``.
"""

from __future__ import annotations

import os
import timeit

import numpy as np
from threadpoolctl import threadpool_limits

N_ROWS, WIDTH = 1024, 512


def best_us(function) -> float:
    return min(timeit.repeat(function, number=5, repeat=10)) / 5 * 1e6


def main() -> None:
    rng = np.random.default_rng(0)
    a = np.maximum(rng.standard_normal((N_ROWS, WIDTH)), 0).astype(np.float32)
    d0 = rng.standard_normal((N_ROWS, WIDTH)).astype(np.float32)
    d, scratch, out = d0.copy(), np.empty_like(d0), np.empty_like(d0)
    weights = rng.standard_normal((WIDTH, WIDTH)).astype(np.float32)
    grad = np.empty_like(weights)
    ones = np.ones(N_ROWS, np.float32)
    bias = np.empty(WIDTH, np.float32)

    def reset():
        d[...] = d0  # Derivatives scale d in place: start each call from the same values.

    cases = {
        "forward GEMM A @ W": lambda: np.matmul(a, weights, out=out),
        "weight gradient A.T @ D (the engine's)": lambda: np.matmul(a.T, d0, out=grad),
        "weight gradient (D.T @ A) into G.T": lambda: np.matmul(d0.T, a, out=grad.T),
        "delta GEMM D @ W.T": lambda: np.matmul(d0, weights.T, out=out),
        "copy of D (subtracted below)": reset,
        "tanh derivative, fresh temporaries": lambda: (reset(), np.multiply(d, 1 - a * a, out=d)),
        "tanh derivative, scratch (the engine's)": lambda: (reset(), np.multiply(a, a, out=scratch),
                                                             np.subtract(1, scratch, out=scratch),
                                                             np.multiply(d, scratch, out=d)),
        "ReLU derivative, boolean temporary (the engine's)": lambda: (reset(), np.multiply(d, a > 0, out=d)),
        "ReLU derivative, float mask in scratch": lambda: (reset(), np.greater(a, 0, out=scratch),
                                                           np.multiply(d, scratch, out=d)),
        "bias gradient D.sum(axis=0)": lambda: d0.sum(axis=0, out=bias),
        "bias gradient ones @ D (the engine's)": lambda: np.matmul(ones, d0, out=bias),
    }
    print(f"numpy {np.__version__}; load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    print("| piece | µs, 1 thread | µs, 2 threads |\n|---|---:|---:|")
    results = {}
    for threads in (1, 2):
        with threadpool_limits(threads):
            for name, function in cases.items():
                results.setdefault(name, []).append(best_us(function))
    for name, (one, two) in results.items():
        print(f"| {name} | {one:.0f} | {two:.0f} |")
    print("\nDerivative rows include the copy of D; subtract its row to compare the derivatives alone.")


if __name__ == "__main__":
    main()
