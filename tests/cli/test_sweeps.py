"""Sweeps on the embedded stack (``axon serve``: SQLite, the SQLite broker, one worker) through
the client and the ``axon sweep`` command as real processes."""

from __future__ import annotations

import json

import httpx

from axon import Client

from tests.support.live import axon

SPEC = {"layers": [{"units": 6, "activation": "tanh"}], "epochs": 6, "batch_size": 16, "device": "cpu"}
SPACE = {"/optimizer/learning_rate": {"type": "log_uniform", "low": 0.001, "high": 0.1},
         "/layers/0/units": {"type": "choice", "values": [4, 8]}}


def test_axon_sweep_watch_runs_every_trial_and_prints_the_best_model(server, tmp_path):
    with Client(server) as client:
        dataset_id = client.create_dataset(generator={"kind": "spiral", "n_samples": 150, "seed": 2})["id"]
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    (tmp_path / "space.json").write_text(json.dumps(SPACE))

    done = axon(server, "sweep", "--dataset", dataset_id, "--spec", "spec.json", "--space", "space.json",
                "--trials", "4", "--parallel", "2", "--seed", "3", "--watch", cwd=tmp_path, timeout=180)

    assert done.returncode == 0, done.stdout + done.stderr
    sweep_id, last = done.stdout.splitlines()[0], done.stdout.splitlines()[-1]
    assert last.startswith("succeeded best trial ")
    with Client(server) as client:
        sweep = client.get_sweep(sweep_id)
        assert sweep["status"] == "succeeded" and sweep["counts"]["succeeded"] == 4
        best = sweep["best"]
        assert f"model {best['model_id']}" in last
        # The best trial is the one whose model's val_loss is lowest, by each model's own record.
        losses = {trial["job_id"]: client.model(trial["model_id"])["metrics"]["val_loss"]
                  for trial in sweep["leaderboard"]}
        assert best["job_id"] == min(losses, key=losses.get)
        assert client.job(best["job_id"])["status"] == "succeeded"  # An ordinary job.
        assert sweep_id in [item["id"] for item in client.sweeps()]  # Listed across pages of two.
    listed = axon(server, "sweep-status", sweep_id)
    assert listed.returncode == 0 and best["job_id"] in listed.stdout, listed.stderr


def test_client_wait_sweep_after_a_cancel_returns_the_cancelled_sweep(server):
    with Client(server) as client:
        dataset_id = client.create_dataset(generator={"kind": "spiral", "n_samples": 150, "seed": 2})["id"]
        started = client.sweep(dataset_id, {**SPEC, "epochs": 2000}, SPACE, n_trials=6, max_parallel=1)
        client.cancel_sweep(started["id"])
        sweep = client.wait_sweep(started["id"], timeout=60)
        assert sweep["status"] == "cancelled"
        statuses = [client.job(trial["job_id"])["status"] for trial in sweep["leaderboard"]]
        assert set(statuses) <= {"cancelled", "cancelling"} and sweep["counts"]["pending"] == 5
        response = httpx.post(f"{server}/v1/sweeps/{started['id']}/cancel")
        assert response.status_code == 409
