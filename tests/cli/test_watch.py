"""``axon train --watch`` and ``axon watch``: the live bar on a terminal, plain lines elsewhere, and the
exit status of a job that succeeded (0), failed or was cancelled (1), or a server that is not there (2)."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import queue
import re
import select
import struct
import subprocess
import termios
import threading
import time
from typing import IO

import pytest
from click.testing import CliRunner

from axon import EpochEvent
from axon.cli import cli
from axon.progress import EpochBar, EpochLines

from tests.support.live import axon
from tests.support.processes import AXON, clean_env, free_port

WAIT_SECONDS = 60  # For any one step of a watched job; a stuck command fails the test after it.
LINE = re.compile(r"^epoch (\d+)/(\d+) loss \S+ accuracy \S+ val_loss \S+ val_accuracy \S+$")


def read_until_closed(descriptor: int, seconds: float) -> bytes:
    """Everything written to the terminal ``descriptor`` until the command closes its end; fails
    the test if that takes longer than ``seconds`` (a stuck command must not hang the suite)."""
    deadline, drawn = time.monotonic() + seconds, b""
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"the terminal was still open after {seconds} s; drawn so far: {drawn[-2000:]!r}"
        readable, _, _ = select.select([descriptor], [], [], remaining)
        if not readable:
            continue  # Timed out: the assertion above fails on the next turn.
        try:
            data = os.read(descriptor, 65536)
        except OSError:  # EIO: the command closed its end of the terminal.
            return drawn
        if not data:
            return drawn
        drawn += data


def readline_within(stream: IO[str], seconds: float) -> str:
    """The next line of a child's pipe; fails the test if none comes within ``seconds``.

    A thread reads it, since a pipe's readline cannot time out; once the test kills the child, the
    pipe closes and a thread still waiting ends.
    """
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=seconds)
    except queue.Empty:
        pytest.fail(f"no line from the command within {seconds} s")


def invoke(url: str, *args: str):
    return CliRunner().invoke(cli, list(args), prog_name="axon", env={"AXON_URL": url})


@pytest.fixture(scope="module")
def watched(server):
    """``axon train --watch`` of a 30-epoch job, its stderr a pipe: the completed process."""
    return axon(server, "train", "--generator", "circle", "--samples", "100", "--seed", "6", "--layers", "8:tanh",
                "--epochs", "30", "--batch-size", "10", "--watch")


def test_train_watch_without_a_terminal_prints_plain_lines(watched, client):
    assert watched.returncode == 0, watched.stderr
    job_id, final = watched.stdout.splitlines()
    job = client.job(job_id)
    assert final == f"succeeded model {job['model_id']}"
    assert "\r" not in watched.stderr  # No bar redrawn over itself in a log.
    matches = [LINE.match(line) for line in watched.stderr.splitlines()]
    assert matches and all(matches), watched.stderr
    epochs = [int(match.group(1)) for match in matches]
    assert epochs[0] == 1 and epochs[-1] == 30 and epochs == sorted(set(epochs))
    assert {match.group(2) for match in matches} == {"30"}


def test_watch_on_a_terminal_draws_a_live_bar(server, watched):
    job_id = watched.stdout.splitlines()[0]
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # A 120-column terminal.
    process = subprocess.Popen([*AXON, "watch", job_id], env=clean_env(AXON_URL=server), stdout=subprocess.PIPE,
                               stderr=terminal, text=True)
    os.close(terminal)
    try:
        drawn = read_until_closed(controller, WAIT_SECONDS)
        stdout, _ = process.communicate(timeout=WAIT_SECONDS)
    finally:
        os.close(controller)
        process.kill()  # Nothing once it has exited; a stuck command must not outlive the test.
    assert process.returncode == 0
    assert stdout.splitlines()[-1].startswith("succeeded model ")
    screen = drawn.decode()
    assert "\r" in screen and "30/30" in screen and "100%" in screen
    assert re.search(r"loss \d", screen) and "epoch/s" in screen


def test_a_diverging_job_exits_1_with_the_reason(server):
    completed = axon(server, "train", "--generator", "plane", "--samples", "100", "--layers", "8:relu",
                     "--optimizer", "sgd", "--learning-rate", "1e12", "--epochs", "50", "--watch")
    assert completed.returncode == 1, completed.stderr
    assert completed.stdout.splitlines()[-1] == "failed"
    assert re.search(r"Error: job \S+ failed: diverged: diverged at epoch \d+", completed.stderr)


def test_a_cancelled_job_exits_1(server, client):
    process = subprocess.Popen([*AXON, "train", "--generator", "spiral", "--samples", "2000", "--layers", "32:tanh",
                                "--epochs", "100000", "--batch-size", "4", "--watch"],
                               env=clean_env(AXON_URL=server), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        job_id = readline_within(process.stdout, WAIT_SECONDS).strip()
        first_progress = readline_within(process.stderr, WAIT_SECONDS)  # Watching has begun and the job is training.
        assert LINE.match(first_progress.strip()), first_progress
        client.cancel(job_id)
        stdout, stderr = process.communicate(timeout=WAIT_SECONDS)
    finally:
        process.kill()
    assert process.returncode == 1
    assert stdout.splitlines()[-1] == "cancelled"
    assert f"Error: job {job_id} cancelled" in stderr
    assert client.job(job_id)["status"] == "cancelled"


def test_watch_of_an_unknown_job_exits_1(server):
    result = invoke(server, "watch", "no-such-job")
    assert result.exit_code == 1
    assert "no job with id 'no-such-job'" in result.stderr


def test_watch_with_no_server_exits_2():
    result = invoke(f"http://127.0.0.1:{free_port()}", "watch", "any")
    assert result.exit_code == 2
    assert "cannot reach Axon" in result.stderr


@pytest.mark.parametrize("argv", [
    ["train", "--generator", "circle", "--layers", "4", "--wait", "--watch"],
    ["train", "--layers", "4"],  # Neither --dataset nor --generator.
    ["train", "--dataset", "d", "--generator", "circle", "--layers", "4"],
])
def test_contradicting_train_options_are_usage_errors(argv):
    result = invoke("http://127.0.0.1:1", *argv)
    assert result.exit_code == 2 and "Usage: axon train" in result.output


def test_plain_lines_show_the_first_epoch_then_one_per_interval_and_the_last():
    now = [0.0]
    lines: list[str] = []
    display = EpochLines(10, lines.append, interval=2.0, clock=lambda: now[0])
    for epoch in range(1, 8):  # Epochs at t = 0, 0.5, ..., 3.0; the job stops early at epoch 7.
        display.update(EpochEvent(epoch, {"loss": 1.0 / epoch}))
        now[0] += 0.5
    display.close()
    assert lines == ["epoch 1/10 loss 1", "epoch 5/10 loss 0.2", "epoch 7/10 loss 0.1429"]


def test_the_bar_counts_epochs_and_shows_the_latest_scores():
    screen = io.StringIO()
    bar = EpochBar(4, screen)
    for epoch in (1, 2, 4):  # Attaching late can skip epochs; the bar jumps with them.
        bar.update(EpochEvent(epoch, {"loss": 0.5 / epoch, "accuracy": 0.9, "val_loss": 0.25}))
    bar.close()
    final = screen.getvalue().split("\r")[-1]
    assert "4/4" in final and "100%" in final
    assert "loss 0.125 accuracy 0.9 val_loss 0.25" in final
