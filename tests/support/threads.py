"""Running test code on several threads at once."""

from __future__ import annotations

import threading


def run_in_threads(work, n_threads: int) -> None:
    """Run ``work(thread_index)`` on ``n_threads`` threads at once and wait for them all."""
    threads = [threading.Thread(target=work, args=(index,)) for index in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
