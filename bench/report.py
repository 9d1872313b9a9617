"""The Markdown the service benchmarks print (bench/service.py, bench/load.py): the machine, times, verdicts, tables."""

from __future__ import annotations

import os
import sys


def ms(seconds: float) -> str:
    """A duration as people read it: milliseconds below 0.1 s, seconds above."""
    return f"{seconds * 1e3:.2f} ms" if seconds < 0.1 else f"{seconds:.3f} s"


def verdict(passed: bool, required: bool = False) -> str:
    """PASS, or what falling short means: FAIL for a requirement (the run fails), MISS for a target."""
    return "PASS" if passed else ("FAIL" if required else "MISS")


def table(title: str, rows: list, heading: str = "##", goal: str = "target") -> None:
    """Print rows of (measure, value, goal, verdict) as a Markdown table under ``title``, flushed at once."""
    print(f"\n{heading} {title}\n\n| measure | value | {goal} | result |\n|---|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    sys.stdout.flush()


def cpu_model() -> str:
    return next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                "unknown")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every number."""
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())
