"""What checkpoints cost on a real worker and PostgreSQL: the space the table takes (TOAST
included) stays about one checkpoint per running job, and writing them stays a small share of
training time. Each test's worker consumes a queue of its own (see test_stopping)."""

from __future__ import annotations

import re
import time
import uuid

from sqlalchemy import text

from tests.support.rows import job_row

from .test_stopping import add_job, send_to
from .test_training import SPEC, create_dataset, wait_for
from service.app_state import app_state

# A 2-768-768-1 network under Adam: a 9.5 MB checkpoint, a few hundredths of a second an epoch.
WIDE_SPEC = {**SPEC, "layers": [{"units": 768, "activation": "tanh"}] * 2, "batch_size": 100,
             "optimizer": {"name": "adam", "learning_rate": 0.001}}
MB = 1e6


def table_bytes(api_app) -> int:
    """``pg_total_relation_size`` of the checkpoints table: heap, indexes and TOAST, dead or alive."""
    with app_state(api_app).engine.connect() as connection:
        return connection.execute(text("SELECT pg_total_relation_size('checkpoints')")).scalar_one()


def checkpoint_bytes(api_app, job_id: str) -> int | None:
    with app_state(api_app).engine.connect() as connection:
        return connection.execute(text("SELECT octet_length(data) FROM checkpoints WHERE job_id = :job_id"),
                                  {"job_id": job_id}).scalar_one_or_none()


def train_watching(api_app, worker, queue: str, dataset_id: str, spec: dict) -> tuple[object, int, int]:
    """Send a job to ``queue`` and follow it to its end; (its row, the largest checkpoint seen,
    the table's largest size meanwhile)."""
    job_id, _ = add_job(api_app, dataset_id, spec)
    send_to(api_app, queue, job_id)
    largest_checkpoint, largest_table = 0, 0
    deadline = time.monotonic() + 120
    while (job := job_row(api_app, job_id)).status in {"queued", "running"}:
        assert time.monotonic() < deadline, f"the job did not finish:\n{worker.log()}"
        largest_checkpoint = max(largest_checkpoint, checkpoint_bytes(api_app, job_id) or 0)
        largest_table = max(largest_table, table_bytes(api_app))
        time.sleep(0.02)
    return job, largest_checkpoint, largest_table


def test_checkpoints_rewritten_every_epoch_leave_no_dead_space_behind(api, api_app, start_worker):
    queue = f"checkpoints-{uuid.uuid4().hex[:8]}"
    worker = start_worker(queue=queue, settings={"AXON_CHECKPOINT_SECONDS": "0"})  # Every epoch.
    dataset_id = create_dataset(api)
    spec = {**WIDE_SPEC, "epochs": 15}
    before = table_bytes(api_app)

    runs = [train_watching(api_app, worker, queue, dataset_id, spec) for _ in range(2)]

    for job, checkpoint, _ in runs:
        assert (job.status, job.epoch) == ("succeeded", 15), worker.log()
        assert checkpoint > 5 * MB  # Large enough that dead copies would show.
    checkpoint, peak = max(run[1] for run in runs), max(run[2] for run in runs)
    # The model supersedes the checkpoint: once the jobs are done, their space is given back
    # (each worker's housekeeping vacuums every reconcile period, 0.5 s here).
    deadline = time.monotonic() + 10
    while (after := table_bytes(api_app)) - before >= checkpoint and time.monotonic() < deadline:
        time.sleep(0.1)
    print(f"\ncheckpoints table: {before / MB:.1f} MB before, peak {peak / MB:.1f} MB, {after / MB:.1f} MB after "
          f"two jobs of 15 checkpoints of {checkpoint / MB:.1f} MB")
    # Fifteen rewrites per job: without the space of each old checkpoint reused, the table would
    # grow by fifteen checkpoints a job. It holds the live one, the one being written, and now and
    # then one that a reader (this test's polling) still saw when the worker vacuumed.
    assert peak - before < 4 * checkpoint, (before, peak, checkpoint)
    assert after - before < checkpoint, (before, after, checkpoint)


def test_writing_checkpoints_stays_a_small_share_of_training_time(api, api_app, start_worker):
    spec = {**WIDE_SPEC, "epochs": 60}
    dataset_id = create_dataset(api)
    # As often as their cost allows (5 % of training), and as seldom as can be (none at all: the
    # last epoch writes none, the model stored right after replaces it), side by side so that both
    # see the same load on the machine.
    cadences = {"adaptive": "0.001", "never": "100000"}
    queues = {name: f"cadence-{uuid.uuid4().hex[:8]}" for name in cadences}
    workers = {name: start_worker(queue=queues[name], settings={"AXON_CHECKPOINT_SECONDS": seconds,
                                                                 "AXON_CHECKPOINT_SHARE": "0.05"})
               for name, seconds in cadences.items()}
    job_ids = {}
    for name in cadences:
        job_ids[name], _ = add_job(api_app, dataset_id, spec)
        send_to(api_app, queues[name], job_ids[name])
    jobs = {name: wait_for(api, job_id, {"succeeded", "failed", "cancelled"}, timeout=180)
            for name, job_id in job_ids.items()}

    assert {name: (job["status"], job["epoch"]) for name, job in jobs.items()} == \
        {name: ("succeeded", 60) for name in cadences}
    train_seconds = {name: job["train_seconds"] for name, job in jobs.items()}
    print(f"\ntraining seconds {train_seconds}")
    # A checkpoint here costs about as much as an epoch or more: written every epoch, as the
    # 0.001 s cadence alone would have them, they took most of the time.
    assert train_seconds["adaptive"] < 1.5 * train_seconds["never"], train_seconds
    written, spent = {}, {}
    for name, job_id in job_ids.items():
        line = re.search(rf"job {job_id}: (\d+) checkpoints took ([\d.]+) s", workers[name].log())
        assert line is not None, workers[name].log()
        written[name], spent[name] = int(line[1]), float(line[2])
    print(f"checkpoints {written}, seconds writing them {spent}")
    assert written["never"] == 0 and 2 <= written["adaptive"] < 60 / 4
    # The first checkpoint is written whatever it costs (its cost is what the cadence learns);
    # the rest keep to the share.
    one_checkpoint = spent["adaptive"] / written["adaptive"]
    assert spent["adaptive"] < 0.05 * train_seconds["adaptive"] + one_checkpoint + 0.5, spent
