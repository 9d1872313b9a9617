"""ASHA against random search on scikit-learn's digits: the best val_loss each reaches and the epochs each spends.

Random search runs 9 trials of 27 epochs (243 epochs); ASHA draws 27 trials from the same space
and stops them at rungs of 1, 3 and 9 epochs (reduction factor 3), so it may spend about as many
epochs over three times the trials; a 54-trial ASHA spends about random search's budget. Both run in process on SQLite, one trial at a time through
the worker's own ``run_job`` (no Celery: the epochs, not the queue, are what this compares),
for three sweep seeds each.

Usage: ``.venv/bin/python bench/sweep_asha.py``
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sklearn.datasets import load_digits
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import migrations  # noqa: E402
from service import create_app  # noqa: E402
from service.app_state import app_state
from service.tables import Job  # noqa: E402
from worker.runner import run_job  # noqa: E402

SPEC = {"layers": [{"units": 32, "activation": "relu"}], "epochs": 27, "batch_size": 32, "device": "cpu"}
SPACE = {"/optimizer/learning_rate": {"type": "log_uniform", "low": 1e-4, "high": 0.3},
         "/layers/0/units": {"type": "choice", "values": [8, 16, 32, 64]},
         "/l2": {"type": "choice", "values": [0.0, 0.0001, 0.001, 0.01]}}
STRATEGIES = {"random": {"strategy": "random", "n_trials": 9},
              "asha": {"strategy": "asha", "n_trials": 27, "asha": {"min_epochs": 1, "reduction_factor": 3}},
              # About random search's 243 epochs: twice the trials, as the 27-trial run spends half.
              "asha-54": {"strategy": "asha", "n_trials": 54, "asha": {"min_epochs": 1, "reduction_factor": 3}}}


def run(app, dataset_id: str, seed: int, body: dict) -> dict:
    client = app.test_client()
    response = client.post("/v1/sweeps", json={"dataset_id": dataset_id, "spec": SPEC, "space": SPACE,
                                               "max_parallel": 1, "seed": seed, **body})
    assert response.status_code == 202, response.get_json()
    sweep_id = response.get_json()["id"]
    started = time.monotonic()
    with app.app_context():
        while True:
            with app_state(app).sessions() as session:
                queued = session.scalars(select(Job.id).where(Job.sweep_id == sweep_id, Job.status == "queued")).all()
            if not queued:
                break
            run_job(queued[0])
    seconds = time.monotonic() - started
    sweep = client.get(f"/v1/sweeps/{sweep_id}").get_json()
    assert sweep["status"] == "succeeded", sweep
    with app_state(app).sessions() as session:
        epochs = sum(session.scalars(select(Job.epoch).where(Job.sweep_id == sweep_id)))
    return {"best": sweep["best"]["objective"], "epochs": epochs, "seconds": seconds, "counts": sweep["counts"]}


def main() -> None:
    logging.getLogger().setLevel(logging.WARNING)
    digits = load_digits()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'axon.db'}"
        migrations.upgrade(url)
        app = create_app({"database_url": url, "broker_url": "memory://", "auth": False, "home": Path(folder)})
        dataset = app.test_client().post("/v1/datasets", json={
            "name": "digits", "features": digits.data.tolist(), "targets": digits.target.tolist()}).get_json()
        results = {name: [run(app, dataset["id"], seed, body) for seed in (0, 1, 2)] for name, body in STRATEGIES.items()}
    print("strategy  seed  best val_loss  epochs  seconds  trials")
    for name, runs in results.items():
        for seed, result in enumerate(runs):
            counts = ", ".join(f"{n} {status}" for status, n in sorted(result["counts"].items()) if n)
            print(f"{name:<8}  {seed:>4}  {result['best']:>13.4f}  {result['epochs']:>6}  {result['seconds']:>7.1f}  {counts}")
        print(f"{name:<8}  mean  {statistics.mean(r['best'] for r in runs):>13.4f}  "
              f"{statistics.mean(r['epochs'] for r in runs):>6.0f}  {statistics.mean(r['seconds'] for r in runs):>7.1f}")


if __name__ == "__main__":
    main()
