"""/v1/jobs: submit (validated against the dataset), show, list, metrics pages, cancel."""

from __future__ import annotations

import pytest

from service.app_state import app_state
from service.api import jobs as jobs_module
from service.tables import EpochMetric, Job

from tests.support.calls import create_dataset, spiral_dataset, submit_job
from tests.support.rows import add_rows, insert_job, job_row
from tests.support.specs import SMALL_SPEC

JOB_KEYS = {"id", "status", "dataset_id", "spec", "epoch", "epochs", "progress", "metrics", "attempts", "error",
            "model_id", "created_at", "started_at", "finished_at", "train_seconds", "sweep_id", "trial"}


def pointers(response) -> list[str]:
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    return [error["pointer"] for error in response.get_json()["errors"]]


def test_submit_is_202_with_location_and_the_queued_job(client, app):
    dataset = spiral_dataset(client)
    response = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": {**SMALL_SPEC, "epochs": 7}})
    assert response.status_code == 202
    job = response.get_json()
    assert set(job) == JOB_KEYS
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert (job["status"], job["epoch"], job["epochs"], job["progress"], job["dataset_id"]) == (
        "queued", 0, 7, 0.0, dataset["id"])
    assert (job["metrics"], job["error"], job["model_id"], job["started_at"], job["finished_at"]) == (None,) * 5
    # The stored spec has every default filled in, so the worker needs nothing else.
    assert job["spec"]["optimizer"]["name"] == "adam" and job["spec"]["loss"] == "auto"
    assert job_row(app, job["id"]).published_at is not None


def test_a_failed_publish_still_answers_202_and_leaves_the_job_for_the_reconciler(client, app, monkeypatch):
    dataset = spiral_dataset(client)
    monkeypatch.setattr(jobs_module, "publish_job", lambda job_id: False)
    job = submit_job(client, dataset["id"])
    row = job_row(app, job["id"])
    assert (row.status, row.published_at) == ("queued", None)


def test_the_job_row_commits_before_publishing(client, app, monkeypatch):
    dataset = spiral_dataset(client)
    seen = []
    # A worker that reads the row the moment the message arrives must find it queued.
    monkeypatch.setattr(jobs_module, "publish_job", lambda job_id: seen.append(job_row(app, job_id).status) or True)
    submit_job(client, dataset["id"])
    assert seen == ["queued"]


@pytest.mark.parametrize("spec, pointer", [
    ({"layers": [{"units": 0}]}, "/spec/layers/0/units"),
    ({"layers": [], "optimizer": {"name": "adam", "learning_rate": -1}}, "/spec/optimizer/learning_rate"),
    ({"layers": [], "schedule": {"name": "step", "gamma": 2}}, "/spec/schedule/gamma"),
    ({"layers": [], "optimizer": {"name": "lbfgs"}}, "/spec/optimizer"),
    ({"layers": [], "epochs": 0}, "/spec/epochs"),
    ({"layers": [], "colour": "red"}, "/spec/colour"),
    ({}, "/spec/layers"),
])
def test_invalid_specs_name_the_field(client, spec, pointer):
    dataset = spiral_dataset(client)
    assert pointer in pointers(client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": spec}))


def test_a_spec_that_does_not_fit_the_dataset_is_422_at_submit(client):
    three_classes = create_dataset(client, features=[[0.0], [1.0], [2.0]], targets=["a", "b", "c"])
    response = client.post("/v1/jobs", json={"dataset_id": three_classes["id"],
                                             "spec": {**SMALL_SPEC, "loss": "binary_cross_entropy"}})
    assert pointers(response) == ["/spec/loss"]
    assert "2 classes" in response.get_json()["errors"][0]["detail"]
    regression = create_dataset(client, features=[[0.0], [1.0]], targets=[0.5, 1.5])
    response = client.post("/v1/jobs", json={"dataset_id": regression["id"], "spec": {**SMALL_SPEC, "loss": "cross_entropy"}})
    assert pointers(response) == ["/spec/loss"]


def test_spec_limits_come_from_settings(make_app):
    client = make_app(limits={"max_units": 4, "max_epochs": 5}).test_client()
    dataset = spiral_dataset(client)
    response = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": {**SMALL_SPEC, "epochs": 6}})
    assert pointers(response) == ["/spec/layers/0/units", "/spec/epochs"]
    assert "max_units" in response.get_json()["errors"][0]["detail"]
    assert not response.get_json()["errors"][0]["detail"].startswith("Value error")


def test_the_parameter_limit_needs_the_dataset(make_app):
    client = make_app(limits={"max_parameters": 30}).test_client()
    dataset = spiral_dataset(client)  # 2 features, 1 output: (2+1)*8 + (8+1)*1 = 33 parameters.
    assert pointers(client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": SMALL_SPEC})) == ["/spec/layers"]


def test_unknown_dataset_is_422_naming_dataset_id(client):
    assert pointers(client.post("/v1/jobs", json={"dataset_id": "nope", "spec": SMALL_SPEC})) == ["/dataset_id"]


def test_show_job_with_worker_progress(client, app):
    dataset = spiral_dataset(client)
    record = {"epoch": 2, "loss": 0.5, "accuracy": 0.75}
    job = insert_job(app, dataset["id"], "failed", epoch=2, metrics=record, attempts=3, error_type="DivergenceError",
                     error_message="diverged at epoch 2", train_seconds=1.5)
    body = client.get(f"/v1/jobs/{job.id}").get_json()
    assert body["progress"] == pytest.approx(2 / 3)
    assert (body["metrics"], body["attempts"], body["train_seconds"]) == (record, 3, 1.5)
    assert body["error"] == {"type": "DivergenceError", "message": "diverged at epoch 2"}
    assert body["finished_at"] is not None


def test_unknown_job_is_404_on_every_route(client):
    for response in (client.get("/v1/jobs/nope"), client.get("/v1/jobs/nope/metrics"),
                     client.post("/v1/jobs/nope/cancel")):
        assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_list_filters_by_status_newest_first_and_pages(make_app):
    app = make_app(page_size=2)
    client = app.test_client()
    dataset = spiral_dataset(client)
    queued = [submit_job(client, dataset["id"])["id"] for _ in range(3)]
    running = insert_job(app, dataset["id"], "running").id
    everything = client.get("/v1/jobs").get_json()
    assert [job["id"] for job in everything["items"]] == [running, queued[2]]
    first = client.get("/v1/jobs?status=queued").get_json()
    assert [job["id"] for job in first["items"]] == [queued[2], queued[1]]
    assert "status=queued" in first["next"]
    second = client.get(first["next"]).get_json()
    assert [job["id"] for job in second["items"]] == [queued[0]] and second["next"] is None
    assert [job["id"] for job in client.get("/v1/jobs?status=running").get_json()["items"]] == [running]


def test_unknown_status_filter_is_422_naming_the_parameter(client):
    response = client.get("/v1/jobs?status=sleeping")
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert response.get_json()["errors"][0]["parameter"] == "status"


def test_metrics_come_in_epoch_order_a_page_at_a_time(make_app):
    app = make_app(page_size=2)
    client = app.test_client()
    job = insert_job(app, None, "running", epoch=5)
    # Inserted out of order: the page order must come from the epoch, not the insert.
    add_rows(app, *(EpochMetric(job_id=job.id, epoch=epoch, record={"epoch": epoch, "loss": 1 / epoch})
                    for epoch in (3, 1, 5, 2, 4)))
    epochs, path = [], f"/v1/jobs/{job.id}/metrics"
    while path is not None:
        page = client.get(path).get_json()
        assert len(page["items"]) <= 2
        epochs += [record["epoch"] for record in page["items"]]
        path = page["next"]
    assert epochs == [1, 2, 3, 4, 5]
    assert client.get(f"/v1/jobs/{job.id}/metrics?after=4").get_json() == {"items": [{"epoch": 5, "loss": 0.2}],
                                                                          "next": None, "next_after": None}


def test_cancel_a_queued_job_finishes_it_at_once(client):
    job = submit_job(client, spiral_dataset(client)["id"])
    response = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 202
    assert response.get_json()["status"] == "cancelled" and response.get_json()["finished_at"] is not None


def test_cancel_a_running_job_asks_the_worker(client, app):
    job = insert_job(app, None, "running")
    first = client.post(f"/v1/jobs/{job.id}/cancel")
    assert (first.status_code, first.get_json()["status"], first.get_json()["finished_at"]) == (202, "cancelling", None)
    again = client.post(f"/v1/jobs/{job.id}/cancel")
    assert (again.status_code, again.get_json()) == (202, first.get_json())


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_cancel_a_finished_job_is_409(client, app, status):
    job = insert_job(app, None, status)
    response = client.post(f"/v1/jobs/{job.id}/cancel")
    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    assert job_row(app, job.id).status == status


def test_cancel_cannot_resurrect_a_job_the_worker_just_finished(client, app, monkeypatch):
    job = insert_job(app, None, "running")
    real_find = jobs_module.find_job

    def find_then_worker_finishes(job_id):
        found = real_find(job_id)
        if found.status == "running":  # The worker commits "succeeded" between our read and update.
            with app_state(app).sessions() as session:
                session.get(Job, job_id).status = "succeeded"
                session.commit()
        return found

    monkeypatch.setattr(jobs_module, "find_job", find_then_worker_finishes)
    assert client.post(f"/v1/jobs/{job.id}/cancel").status_code == 409
    assert job_row(app, job.id).status == "succeeded"


def test_metrics_after_beyond_any_epoch_is_a_422_not_an_overflow(app, client):
    job = insert_job(app, None, "running")
    response = client.get(f"/v1/jobs/{job.id}/metrics?after={2**80}")
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["parameter"] == "after"


def test_json_arrays_fill_list_fields_under_strict_typing(client):
    """Strict typing must not refuse a JSON array for Adam's two betas."""
    job = submit_job(client, spiral_dataset(client)["id"], optimizer={"name": "adam", "betas": [0.8, 0.99]})
    assert job["spec"]["optimizer"]["betas"] == [0.8, 0.99]
