"""Running ``axon`` as a real process: the command line, a clean environment, a free port."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
AXON = [sys.executable, "-m", "axon"]


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any AXON_* variable, plus ``settings``.

    PYTHONPATH names the repository, so the commands import this checkout wherever they run.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("AXON_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(settings)
    return env


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
