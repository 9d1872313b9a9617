"""/v1/sweeps on SQLite through the Flask test client; trials are trained by the worker's own
``run_job`` in this process (no Celery), so the sweep advances exactly as it does on a worker."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sqlalchemy import select

from service.app_state import app_state
from service.tables import Job
from worker.runner import run_job

from tests.support.calls import spiral_dataset
from tests.support.specs import SMALL_SPEC

SPACE = {"/optimizer/learning_rate": {"type": "log_uniform", "low": 0.001, "high": 0.1},
         "/layers/0/units": {"type": "int", "low": 2, "high": 6},
         "/layers/0/activation": {"type": "choice", "values": ["tanh", "relu"]}}


def post_sweep(client, dataset_id, **fields):
    body = {"dataset_id": dataset_id, "spec": SMALL_SPEC, "space": SPACE, "strategy": "random", "n_trials": 4,
            "max_parallel": 2, **fields}
    return client.post("/v1/sweeps", json=body)


def pointers(response) -> list[str]:
    assert response.status_code == 422, response.get_json()
    return [error["pointer"] for error in response.get_json()["errors"]]


def sweep_jobs(app, sweep_id) -> list[Job]:
    with app_state(app).sessions() as session:
        return list(session.scalars(select(Job).where(Job.sweep_id == sweep_id).order_by(Job.trial)))


def run_queued_trials(app, sweep_id, limit: int = 100) -> int:
    """Train the sweep's queued trials one by one, as a worker would, until none is left; how many ran."""
    ran = 0
    with app.app_context():
        while ran < limit:
            queued = [job.id for job in sweep_jobs(app, sweep_id) if job.status == "queued"]
            if not queued:
                return ran
            run_job(queued[0])
            ran += 1
    return ran


def test_random_sweep_is_202_with_location_and_its_first_trials_queued(client, app):
    dataset = spiral_dataset(client)
    response = post_sweep(client, dataset["id"], n_trials=5, max_parallel=2)
    assert response.status_code == 202, response.get_json()
    sweep = response.get_json()
    assert response.headers["Location"] == f"/v1/sweeps/{sweep['id']}"
    assert sweep["status"] == "queued" and sweep["n_trials"] == 5
    assert sweep["counts"] == {"queued": 2, "pending": 3}
    jobs = sweep_jobs(app, sweep["id"])
    assert [job.trial for job in jobs] == [0, 1]
    for job in jobs:  # Each trial's spec is the base with the sampled values set.
        assert job.spec["optimizer"]["learning_rate"] == job.sampled["/optimizer/learning_rate"]
        assert job.spec["layers"][0]["units"] == job.sampled["/layers/0/units"]
        assert 0.001 <= job.sampled["/optimizer/learning_rate"] < 0.1
        assert job.epochs == SMALL_SPEC["epochs"]
    # An ordinary job: the jobs API shows it.
    assert client.get(f"/v1/jobs/{jobs[0].id}").get_json()["status"] == "queued"


def test_the_same_seed_gives_the_same_trials_and_another_seed_others(client, app):
    dataset = spiral_dataset(client)
    draws = []
    for seed in (7, 7, 8):
        sweep = post_sweep(client, dataset["id"], seed=seed, max_parallel=4).get_json()
        draws.append([job.sampled for job in sweep_jobs(app, sweep["id"])])
    assert draws[0] == draws[1]
    assert draws[0] != draws[2]


def test_log_uniform_draws_are_uniform_in_the_logarithm():
    """The oracle: a Kolmogorov-Smirnov test of log(value) against the uniform on [log low, log high)."""
    from scipy import stats

    from service.sweep_schemas import LogUniform
    from service.sweep_space import random_values

    space = {"/l2": LogUniform(low=1e-5, high=1e-1)}
    values = np.log([random_values(space, 3, trial)["/l2"] for trial in range(2000)])
    low, high = math.log(1e-5), math.log(1e-1)
    assert values.min() >= low and values.max() < high
    assert stats.kstest(values, stats.uniform(loc=low, scale=high - low).cdf).pvalue > 0.01


def test_a_grid_sweep_covers_the_product_of_its_dimensions_once(client, app):
    dataset = spiral_dataset(client)
    space = {"/batch_size": {"type": "choice", "values": [8, 16, 32]},
             "/layers/0/units": {"type": "int", "low": 3, "high": 4}}
    response = post_sweep(client, dataset["id"], strategy="grid", n_trials=None, space=space, max_parallel=10)
    assert response.status_code == 202, response.get_json()
    sweep = response.get_json()
    assert sweep["n_trials"] == 6
    sampled = [tuple(sorted(job.sampled.items())) for job in sweep_jobs(app, sweep["id"])]
    expected = [tuple(sorted({"/batch_size": b, "/layers/0/units": u}.items()))
                for b, u in itertools.product([8, 16, 32], [3, 4])]
    assert sampled == expected


@pytest.mark.parametrize("fields, pointer", [
    ({"space": {"/optimizer/learning_rate": {"type": "uniform", "low": -1.0, "high": 0.5}}},
     "/space/~1optimizer~1learning_rate"),
    ({"space": {"/layers/3/units": {"type": "int", "low": 1, "high": 2}}}, "/space/~1layers~13~1units"),
    ({"space": {"/no_such_field": {"type": "choice", "values": [1]}}}, "/space/~1no_such_field"),
    ({"space": {"/layers/0/activation": {"type": "choice", "values": ["tanh", "sigmoidish"]}}},
     "/space/~1layers~10~1activation"),
    ({"space": {"/epochs": {"type": "int", "low": 0, "high": 3}}, "n_trials": 20}, "/space/~1epochs"),
    ({"space": {"/l2": {"type": "uniform", "low": 0.5, "high": 0.1}}}, "/space/~1l2/uniform"),
    ({"strategy": "grid", "n_trials": None}, "/space/~1optimizer~1learning_rate"),
    ({"n_trials": None}, "/n_trials"),
    ({"objective": {"metric": "r2"}}, "/objective/metric"),
    ({"objective": {"metric": "val_loss"}, "spec": {**SMALL_SPEC, "validation_split": 0}}, "/objective/metric"),
    ({"asha": {"min_epochs": 1}}, "/asha"),
    ({"dataset_id": "nope"}, "/dataset_id"),
    ({"spec": {**SMALL_SPEC, "loss": "mse"}}, "/spec/loss"),
])
def test_an_invalid_sweep_is_422_naming_the_place_and_stores_nothing(client, app, fields, pointer):
    dataset = spiral_dataset(client)
    names = pointers(post_sweep(client, **{"dataset_id": dataset["id"], **fields}))
    assert pointer in names, names
    assert client.get("/v1/sweeps").get_json()["items"] == []
    assert client.get("/v1/jobs").get_json()["items"] == []


def test_trials_run_to_a_finished_sweep_with_a_leaderboard_and_a_best_model(client, app):
    dataset = spiral_dataset(client, n_samples=90)
    sweep = post_sweep(client, dataset["id"], n_trials=5, max_parallel=2).get_json()
    assert run_queued_trials(app, sweep["id"]) == 5  # Each trial's end queued the next.
    shown = client.get(f"/v1/sweeps/{sweep['id']}").get_json()
    assert shown["status"] == "succeeded" and shown["finished_at"] is not None
    assert shown["counts"] == {"succeeded": 5, "pending": 0}
    board = shown["leaderboard"]
    objectives = [trial["objective"] for trial in board]
    assert objectives == sorted(objectives) and len(board) == 5
    # The oracle for the objective: the model's own record of val_loss, as /v1/models shows it.
    best = shown["best"]
    assert best == board[0]
    model = client.get(f"/v1/models/{best['model_id']}").get_json()
    assert model["metrics"]["val_loss"] == pytest.approx(best["objective"])
    response = client.post(f"/v1/jobs/{best['job_id']}/predict", json={"inputs": [[0.1, 0.2]]})
    assert response.status_code == 200, response.get_json()


def test_at_most_max_parallel_trials_are_active_and_the_tenant_cap_counts(make_app):
    app = make_app(max_active_jobs=3)
    client = app.test_client()
    dataset = spiral_dataset(client)
    client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": SMALL_SPEC})
    sweep = post_sweep(client, dataset["id"], n_trials=6, max_parallel=4).get_json()
    # One ordinary job and the tenant cap of 3: two trials, though max_parallel allows 4.
    assert sweep["counts"] == {"queued": 2, "pending": 4}
    other = post_sweep(client, dataset["id"], n_trials=2, max_parallel=2).get_json()
    assert other["status"] == "queued" and other["counts"] == {"pending": 2}  # Accepted, waiting for room.
    run_queued_trials(app, sweep["id"], limit=1)
    counts = client.get(f"/v1/sweeps/{sweep['id']}").get_json()["counts"]
    others = client.get(f"/v1/sweeps/{other['id']}").get_json()["counts"]
    trials_active = counts.get("queued", 0) + others.get("queued", 0)
    # The freed slot went to one trial, not two: with the ordinary job, the tenant is at 3 again.
    assert counts["succeeded"] == 1 and trials_active == 2


def test_cancel_ends_every_unfinished_trial_and_a_second_cancel_is_409(client, app):
    dataset = spiral_dataset(client)
    sweep = post_sweep(client, dataset["id"], n_trials=4, max_parallel=2).get_json()
    jobs = sweep_jobs(app, sweep["id"])
    with app_state(app).sessions() as session:  # One trial as if a worker held it.
        session.get(Job, jobs[0].id).status = "running"
        session.commit()
    response = client.post(f"/v1/sweeps/{sweep['id']}/cancel")
    assert response.status_code == 202
    assert response.get_json()["status"] == "cancelled"
    assert [job.status for job in sweep_jobs(app, sweep["id"])] == ["cancelling", "cancelled"]
    assert client.post(f"/v1/sweeps/{sweep['id']}/cancel").status_code == 409
    assert run_queued_trials(app, sweep["id"]) == 0  # No new trial after a cancel.


def test_asha_prunes_trials_whose_objective_trails_at_a_rung(client, app):
    dataset = spiral_dataset(client, n_samples=90)
    space = {"/optimizer/learning_rate": {"type": "log_uniform", "low": 1e-5, "high": 0.1}}
    response = post_sweep(client, dataset["id"], strategy="asha", n_trials=9, max_parallel=1, space=space,
                          spec={**SMALL_SPEC, "epochs": 9}, asha={"min_epochs": 1, "reduction_factor": 3})
    assert response.status_code == 202, response.get_json()
    sweep = response.get_json()
    run_queued_trials(app, sweep["id"])
    shown = client.get(f"/v1/sweeps/{sweep['id']}").get_json()
    assert shown["status"] == "succeeded"
    jobs = sweep_jobs(app, sweep["id"])
    pruned = [job for job in jobs if job.status == "pruned"]
    assert pruned and shown["counts"]["pruned"] == len(pruned)
    assert all(job.epoch in (1, 3) and job.model_id is None and job.error_type is None for job in pruned)
    # The oracle for each decision: a pruned trial was outside the best third of those before it at its rung.
    for job in pruned:
        rung = job.epoch
        earlier = [other for other in jobs if other.trial < job.trial and other.epoch >= rung]
        values = sorted([_val_loss_at(app, other.id, rung) for other in earlier] + [_val_loss_at(app, job.id, rung)])
        kept = max(1, len(values) // 3)
        assert _val_loss_at(app, job.id, rung) > values[kept - 1]


def _val_loss_at(app, job_id, epoch) -> float:
    from service.tables import EpochMetric
    with app_state(app).sessions() as session:
        return session.scalar(select(EpochMetric.record).where(EpochMetric.job_id == job_id,
                                                               EpochMetric.epoch == epoch))["val_loss"]


def test_list_pages_newest_first_and_filters_by_status(make_app):
    app = make_app(page_size=2)
    client = app.test_client()
    dataset = spiral_dataset(client)
    ids = [post_sweep(client, dataset["id"], n_trials=1, max_parallel=1).get_json()["id"] for _ in range(3)]
    client.post(f"/v1/sweeps/{ids[0]}/cancel")
    first = client.get("/v1/sweeps").get_json()
    assert [item["id"] for item in first["items"]] == ids[:0:-1]
    second = client.get(first["next"]).get_json()
    assert [item["id"] for item in second["items"]] == [ids[0]] and second["next"] is None
    cancelled = client.get("/v1/sweeps?status=cancelled").get_json()
    assert [item["id"] for item in cancelled["items"]] == [ids[0]]


def test_another_tenants_sweep_is_404(client, app):
    assert client.get("/v1/sweeps/nope").status_code == 404
    assert client.post("/v1/sweeps/nope/cancel").status_code == 404
    assert client.get("/v1/sweeps/nope/events").status_code == 404


def test_events_stream_trials_epochs_and_the_end_and_resume_after_an_id(client, app):
    dataset = spiral_dataset(client)
    sweep = post_sweep(client, dataset["id"], n_trials=2, max_parallel=2).get_json()
    run_queued_trials(app, sweep["id"])
    events = _events(client.get(f"/v1/sweeps/{sweep['id']}/events").get_data(as_text=True))
    trials = [data for kind, _, data in events if kind == "trial"]
    epochs = [(event_id, data) for kind, event_id, data in events if kind == "epoch"]
    assert {trial["status"] for trial in trials} == {"succeeded"} and len(trials) == 2
    assert len(epochs) == 2 * SMALL_SPEC["epochs"]
    assert events[-1][0] == "end" and events[-1][2] == {"status": "succeeded"}
    ids = [int(event_id) for event_id, _ in epochs]
    assert ids == sorted(ids)
    resumed = _events(client.get(f"/v1/sweeps/{sweep['id']}/events",
                                 headers={"Last-Event-ID": str(ids[2])}).get_data(as_text=True))
    assert [event_id for kind, event_id, _ in resumed if kind == "epoch"] == [str(i) for i in ids[3:]]


def _events(text: str) -> list[tuple[str, str | None, dict]]:
    import json
    found = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if fields:
            found.append((fields["event"], fields.get("id"), json.loads(fields["data"])))
    return found
