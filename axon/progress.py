"""Showing a job's epochs as they finish: a live tqdm bar on a terminal, plain lines anywhere else.

Both displays take :class:`axon.EpochEvent` s from the job's event stream (``Client.wait(...,
on_epoch=display.update)``) and write to stderr, so stdout keeps only what a script reads (ids,
the final status).
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

from tqdm import tqdm

from axon.cli_common import progress_line, scores
from axon.client import Client, EpochEvent

# Without a terminal, one line per this many seconds at most: a log gets the trend, not every epoch.
LINE_SECONDS = 2.0


class EpochBar:
    """A tqdm bar over the job's epochs, the latest scores beside it."""

    def __init__(self, epochs: int, file: TextIO):
        self._bar = tqdm(total=epochs, unit="epoch", file=file, dynamic_ncols=True, leave=True)

    def update(self, event: EpochEvent) -> None:
        self._bar.set_postfix_str(scores(event.record), refresh=False)
        self._bar.update(event.epoch - self._bar.n)

    def close(self) -> None:
        self._bar.close()


class EpochLines:
    """A progress line for the first epoch, then at most one per ``interval`` seconds, and the last one."""

    def __init__(self, epochs: int, echo: Callable[[str], None], interval: float = LINE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self._epochs, self._echo, self._interval, self._clock = epochs, echo, interval, clock
        self._shown_at: float | None = None
        self._unshown: EpochEvent | None = None

    def update(self, event: EpochEvent) -> None:
        now = self._clock()
        if self._shown_at is None or now - self._shown_at >= self._interval or event.epoch >= self._epochs:
            self._show(event)
            self._shown_at = now
        else:
            self._unshown = event

    def close(self) -> None:
        # A job that stops early (early stopping, a failure, a cancel) still shows where it stopped.
        if self._unshown is not None:
            self._show(self._unshown)

    def _show(self, event: EpochEvent) -> None:
        self._echo(progress_line(event.epoch, self._epochs, event.record))
        self._unshown = None


def follow(client: Client, job: dict, stream: TextIO | None = None) -> dict:
    """Show each epoch of ``job`` (a job as the API returns it) as it finishes; return the job once it ended."""
    stream = stream or sys.stderr
    if stream.isatty():
        display: EpochBar | EpochLines = EpochBar(job["epochs"], stream)
    else:
        display = EpochLines(job["epochs"], lambda line: print(line, file=stream, flush=True))
    try:
        return client.wait(job["id"], on_epoch=display.update)
    finally:
        display.close()
