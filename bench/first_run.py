"""A newcomer's first minute: seconds from `git clone` to the first 200 from `/healthz` of `make run`.

Clones this checkout's committed HEAD into a temporary folder and runs `make run` there on a free
port with every download cache off (pip's and uv's), as on a fresh machine, then polls `/healthz`.
Prints the clone, the install (up to the stamp `make run` leaves) and the start, and the total.

    python bench/first_run.py [--keep-cache]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_SECONDS = 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-cache", action="store_true", help="let pip and uv use their caches")
    arguments = parser.parse_args()
    environment = dict(os.environ)
    if not arguments.keep_cache:
        environment.update(PIP_NO_CACHE_DIR="1", UV_NO_CACHE="1")
    with tempfile.TemporaryDirectory(prefix="axon-first-run-") as folder:
        checkout = Path(folder) / "axon"
        started = time.monotonic()
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(checkout)], check=True)
        cloned = time.monotonic()
        port = free_port()
        log = open(Path(folder) / "make-run.log", "w")
        server = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=checkout, env=environment, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        installed = None
        try:
            while not healthy(port):
                if installed is None and (checkout / ".venv" / ".installed-run").exists():
                    installed = time.monotonic()
                if server.poll() is not None or time.monotonic() - started > DEADLINE_SECONDS:
                    log.close()
                    print((Path(folder) / "make-run.log").read_text()[-3000:], file=sys.stderr)
                    print("make run ended or timed out before /healthz answered", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            answered = time.monotonic()
        finally:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
            log.close()
    installed = installed or answered
    load = os.getloadavg()[0]
    print("| step | seconds |\n|---|---:|")
    print(f"| git clone | {cloned - started:.1f} |")
    print(f"| make run: venv and install (server extra) | {installed - cloned:.1f} |")
    print(f"| make run: start to /healthz 200 | {answered - installed:.1f} |")
    print(f"| **clone to /healthz** | **{answered - started:.1f}** |")
    print(f"\ncaches {'kept' if arguments.keep_cache else 'off'}; load average {load:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
