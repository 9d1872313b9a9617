"""float32 tanh: NumPy's own against formulations through ``exp``/``expm1`` (issue 14, point 4).

Times each in place on a (1024, 512) float32 array (the wide shape's hidden layer), best of 30,
and reports its largest error against float64 ``np.tanh``: absolute, and relative to |tanh(x)|
(units of float32 epsilon). Run: ``.venv/bin/python bench/tanh.py``.
"""

from __future__ import annotations

import os
import timeit

import numpy as np

SHAPE = (1024, 512)


def numpy_tanh(x, out, scratch):
    return np.tanh(x, out=out)


def through_exp(x, out, scratch):
    # 1 - 2 / (e^{2x} + 1); clipped, since e^{2x} overflows float32 past x = 44.
    np.multiply(x, 2, out=out)
    np.minimum(out, 40, out=out)
    np.exp(out, out=out)
    out += 1
    np.divide(2, out, out=out)
    return np.subtract(1, out, out=out)


def through_exp_of_minus_abs(x, out, scratch):
    # sign(x) (1 - e) / (1 + e), e = e^{-2|x|} <= 1: never overflows.
    np.abs(x, out=scratch)
    scratch *= -2
    np.exp(scratch, out=scratch)
    np.subtract(1, scratch, out=out)
    scratch += 1
    out /= scratch
    return np.copysign(out, x, out=out)


def through_expm1(x, out, scratch):
    # expm1(2x) / (expm1(2x) + 2): exact near 0, where the forms above cancel; clipped against overflow.
    np.clip(x, -10, 10, out=out)
    out *= 2
    np.expm1(out, out=out)
    np.add(out, 2, out=scratch)
    return np.divide(out, scratch, out=out)


def main() -> None:
    x = (np.random.default_rng(0).standard_normal(SHAPE) * 3).astype(np.float32)
    reference = np.tanh(x.astype(np.float64))
    out, scratch = np.empty_like(x), np.empty_like(x)
    eps = float(np.finfo(np.float32).eps)
    print(f"numpy {np.__version__}; load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    print("| formulation | ns/element | max abs error | max error relative to abs(tanh x), in float32 eps |")
    print("|---|---:|---:|---:|")
    for function in (numpy_tanh, through_exp, through_exp_of_minus_abs, through_expm1):
        seconds = min(timeit.repeat(lambda: function(x, out, scratch), number=1, repeat=30))
        function(x, out, scratch)
        error = np.abs(out - reference)
        relative = (error / np.maximum(np.abs(reference), np.finfo(np.float32).tiny)).max() / eps
        print(f"| {function.__name__} | {seconds / x.size * 1e9:.2f} | {error.max():.2e} | {relative:.1f} |")


if __name__ == "__main__":
    main()
