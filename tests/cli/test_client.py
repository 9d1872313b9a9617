"""``axon.Client`` and the client commands against a live ``axon serve`` (the ``server`` fixture:
two items a page, so every list the client reads spans pages)."""

from __future__ import annotations

import csv
import io
import subprocess

import httpx
import numpy as np
import pytest

from axon import AxonError, AxonUnavailable, Client, Conflict, InvalidRequest, NotFound
from axon.cli_common import progress_line
from mlp import Model
from tests.support.isolation import import_with_blocked

from tests.support.live import axon
from tests.support.processes import AXON, clean_env, free_port

EPOCHS = 5
SPEC = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": EPOCHS, "batch_size": 10, "device": "cpu"}
INPUTS = [[0.1, 0.2], [3.0, 3.0], [-2.0, 0.5], [0.0, -4.0]]


@pytest.fixture(scope="module")
def trained(client):
    """A finished job on a circle dataset, and what ``wait`` reported on the way."""
    dataset = client.create_dataset(generator={"kind": "circle", "n_samples": 100, "seed": 1})
    job = client.submit(dataset["id"], SPEC)
    seen = []
    finished = client.wait(job["id"], timeout=60, poll=0.1, on_progress=seen.append)
    return finished, seen


# ---- the client -------------------------------------------------------------------------------


def test_client_imports_without_service_frameworks():
    blocked = ("flask", "celery", "sqlalchemy", "kombu", "redis", "alembic")
    completed = import_with_blocked("import axon.client\nfrom axon import Client", blocked, env=clean_env())
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_url_and_key_default_to_the_environment(monkeypatch):
    seen = []
    transport = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(200, json={"id": "j"}))
    monkeypatch.setenv("AXON_URL", "http://axon.example:9000/")
    monkeypatch.setenv("AXON_KEY", "secret")
    with Client(transport=transport) as client:
        client.job("j")
    assert str(seen[0].url) == "http://axon.example:9000/v1/jobs/j"
    assert seen[0].headers["Authorization"] == "Bearer secret"
    monkeypatch.delenv("AXON_KEY")
    with Client("http://other:1", transport=transport) as client:
        client.job("j")
    assert str(seen[1].url) == "http://other:1/v1/jobs/j"
    assert "Authorization" not in seen[1].headers


def test_wait_polls_until_the_job_succeeds(trained):
    job, seen = trained
    assert job["status"] == "succeeded" and job["epoch"] == EPOCHS and job["model_id"]
    assert seen and seen[-1] == job
    assert all(earlier["epoch"] <= later["epoch"] for earlier, later in zip(seen, seen[1:]))


def test_metrics_follow_pages_to_one_record_per_epoch(client, trained):
    records = client.metrics(trained[0]["id"])
    assert [record["epoch"] for record in records] == list(range(1, EPOCHS + 1))  # Three pages of two.
    assert all(np.isfinite(record["loss"]) for record in records)


def test_jobs_follow_pages_and_filter_by_status(client, trained):
    job = trained[0]
    dataset_id = job["dataset_id"]
    extra = [client.submit(dataset_id, SPEC)["id"] for _ in range(2)]
    listed = [item["id"] for item in client.jobs()]
    assert {job["id"], *extra} <= set(listed) and len(listed) == len(set(listed)) >= 3
    assert job["id"] in [item["id"] for item in client.jobs(status="succeeded")]
    assert job["id"] not in [item["id"] for item in client.jobs(status="queued")]


def test_predict_returns_labels_and_probabilities(client, trained):
    model = client.model(trained[0]["model_id"])
    prediction = client.predict(model["id"], np.array(INPUTS))
    assert prediction.predictions.shape == (len(INPUTS),)
    assert prediction.classes == model["classes"] == [0, 1]
    assert set(prediction.predictions.tolist()) <= set(model["classes"])
    assert prediction.probabilities.shape == (len(INPUTS), 2)
    np.testing.assert_allclose(prediction.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert prediction.predictions.tolist() == client.predict(model["id"], INPUTS).predictions.tolist()


def test_export_writes_the_artefact_that_predicts_the_same(client, trained, tmp_path):
    model_id = trained[0]["model_id"]
    path = client.export(model_id, tmp_path / "model.npz")
    local = Model.from_bytes(path.read_bytes())
    served = client.predict(model_id, INPUTS)
    assert local.predict(np.array(INPUTS)).predictions.tolist() == served.predictions.tolist()


def test_datasets_from_arrays_and_csv_then_delete(client, tmp_path):
    from_arrays = client.create_dataset(np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]), np.array([0, 1, 0]),
                                        name="tiny")
    assert (from_arrays["name"], from_arrays["n_samples"], from_arrays["classes"]) == ("tiny", 3, [0, 1])
    csv_path = tmp_path / "data.csv"
    csv_path.write_text("a,b,label\n0,1,x\n1,0,y\n2,2,x\n3,1,y\n")
    uploaded = client.upload_csv(csv_path, "label")
    assert (uploaded["n_samples"], uploaded["feature_names"], uploaded["classes"]) == (4, ["a", "b"], ["x", "y"])
    assert {from_arrays["id"], uploaded["id"]} <= {item["id"] for item in client.datasets()}
    assert client.dataset(uploaded["id"]) == uploaded
    client.delete_dataset(uploaded["id"])
    with pytest.raises(NotFound):
        client.dataset(uploaded["id"])


def test_unknown_job_is_not_found(client):
    with pytest.raises(NotFound) as caught:
        client.job("no-such-job")
    assert (caught.value.status, caught.value.title) == (404, "Not Found")
    assert "no-such-job" in caught.value.detail


def test_bad_spec_is_invalid_request_naming_the_field(client, trained):
    bad = {**SPEC, "layers": [{"units": 0, "activation": "tanh"}]}
    with pytest.raises(InvalidRequest) as caught:
        client.submit(trained[0]["dataset_id"], bad)
    assert caught.value.status == 422
    assert "/spec/layers/0/units" in [error.get("pointer") for error in caught.value.errors]


def test_cancelling_a_finished_job_is_a_conflict(client, trained):
    with pytest.raises(Conflict) as caught:
        client.cancel(trained[0]["id"])
    assert caught.value.status == 409 and "succeeded" in caught.value.detail


def test_closed_port_is_unavailable():
    with Client(f"http://127.0.0.1:{free_port()}", timeout=5) as client, pytest.raises(AxonUnavailable) as caught:
        client.jobs()
    assert isinstance(caught.value, AxonError) and caught.value.status is None
    assert "cannot reach Axon" in caught.value.detail


# ---- the commands -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_job(server):
    """``axon train --wait``: the completed process, the job id and the model id."""
    completed = axon(server, "train", "--generator", "circle", "--samples", "100", "--seed", "2",
                     "--layers", "8:tanh,8:tanh", "--epochs", "4", "--batch-size", "10", "--wait")
    lines = completed.stdout.splitlines()
    job_id = lines[0] if lines else ""
    model_id = lines[-1].split()[-1] if lines else ""
    return completed, job_id, model_id


def test_train_waits_and_prints_the_job_and_its_model(cli_job, client):
    completed, job_id, model_id = cli_job
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == f"succeeded model {model_id}"
    job = client.job(job_id)
    assert (job["status"], job["epochs"], job["model_id"]) == ("succeeded", 4, model_id)
    assert [layer["units"] for layer in job["spec"]["layers"]] == [8, 8]


def test_train_wait_prints_one_line_per_epoch_with_its_recorded_scores(cli_job, client):
    completed, job_id, _ = cli_job
    recorded = [progress_line(record["epoch"], 4, record) for record in client.metrics(job_id)]
    assert [line.split()[1] for line in recorded] == ["1/4", "2/4", "3/4", "4/4"]
    assert completed.stderr.splitlines() == recorded


def test_jobs_lists_and_status_shows_the_job(server, cli_job):
    _, job_id, model_id = cli_job
    listed = axon(server, "jobs", "--status", "succeeded")
    assert listed.returncode == 0
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [job_id, "succeeded", "4/4"] in [row[:3] for row in rows]
    assert job_id not in axon(server, "jobs", "--status", "failed").stdout
    shown = axon(server, "status", job_id)
    assert shown.returncode == 0
    assert f"id:            {job_id}" in shown.stdout and "status:        succeeded" in shown.stdout
    assert f"model:         {model_id}" in shown.stdout


def test_metrics_csv_has_a_header_and_a_line_per_epoch(server, cli_job):
    completed = axon(server, "metrics", cli_job[1], "--csv")
    assert completed.returncode == 0
    header, *lines = completed.stdout.splitlines()
    assert header.split(",")[:2] == ["epoch", "loss"]
    assert [line.split(",")[0] for line in lines] == ["1", "2", "3", "4"]


def test_predict_prints_one_label_per_row(server, cli_job, client, tmp_path):
    model_id = cli_job[2]
    csv_path = tmp_path / "inputs.csv"
    csv_path.write_text("x1,x2\n" + "".join(f"{a},{b}\n" for a, b in INPUTS))
    completed = axon(server, "predict", model_id, str(csv_path))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [str(label) for label in client.predict(model_id, INPUTS).predictions]


def test_predict_escapes_labels_a_spreadsheet_would_run(server, client, tmp_path):
    """OWASP's CSV injection advice: a label starting with = + - @ tab or CR gets a ' before it,
    and a comma or quote in one is quoted, so the file opens as data."""
    labels = ['=HYPERLINK("http://x","a,b")', "+1+1", "-1-1", "@SUM(A1)", "\tx", "\rx", "plain"]
    features = [[float(index), float(index % 2)] for index in range(len(labels)) for _ in range(10)]
    targets = [label for label in labels for _ in range(10)]
    dataset = client.create_dataset(features, targets)
    job = client.wait(client.submit(dataset["id"], SPEC)["id"], timeout=60, poll=0.1)
    csv_path = tmp_path / "inputs.csv"
    csv_path.write_text("".join(f"{a},{b}\n" for a, b in features))

    # Bytes: text mode would turn the CR of a quoted cell into a line break.
    completed = subprocess.run([*AXON, "predict", job["model_id"], str(csv_path)], env=clean_env(AXON_URL=server),
                               capture_output=True, timeout=60)

    assert completed.returncode == 0, completed.stderr
    expected = client.predict(job["model_id"], features).predictions.tolist()
    written = [row[0] for row in csv.reader(io.StringIO(completed.stdout.decode(), newline=""))]
    assert written == [label if label == "plain" else "'" + label for label in expected]
    assert set(expected) - {"plain"}, "the model predicted no dangerous label at all"
    # Nothing a spreadsheet would take for a formula starts a cell.
    assert not [cell for cell in written if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_export_writes_a_loadable_model(server, cli_job, tmp_path):
    completed = axon(server, "export", cli_job[2], "-o", "model.npz", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert Model.from_bytes((tmp_path / "model.npz").read_bytes()).n_features == 2


def test_unknown_id_exits_1_with_the_problem(server):
    completed = axon(server, "status", "no-such-job")
    assert completed.returncode == 1
    assert "no job with id 'no-such-job'" in completed.stderr and "Traceback" not in completed.stderr


def test_bad_layer_exits_1_naming_the_field(server):
    completed = axon(server, "train", "--generator", "circle", "--layers", "0:tanh")
    assert completed.returncode == 1
    assert "/spec/layers/0/units" in completed.stderr


def test_closed_port_exits_2():
    completed = axon(f"http://127.0.0.1:{free_port()}", "jobs")
    assert completed.returncode == 2
    assert "cannot reach Axon" in completed.stderr and "Traceback" not in completed.stderr
