"""``axon datasets``, ``axon dataset create/show/delete``, ``axon train --dataset`` and ``axon model``,
run in-process (CliRunner) against the live server."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from axon import NotFound
from axon.cli import cli


def invoke(url: str, *args: str):
    return CliRunner().invoke(cli, list(args), prog_name="axon", env={"AXON_URL": url})


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "flowers.csv"
    rows = [(index % 7 / 7, (index * 3) % 5 / 5, "wide" if index % 2 else "narrow") for index in range(40)]
    path.write_text("petal,sepal,kind\n" + "".join(f"{a},{b},{kind}\n" for a, b, kind in rows))
    return path


def test_a_csv_dataset_is_created_shown_listed_and_deleted(server, client, csv_file):
    created = invoke(server, "dataset", "create", str(csv_file), "--target", "kind", "--name", "flowers")
    assert created.exit_code == 0, created.output
    dataset_id = created.stdout.strip()
    dataset = client.dataset(dataset_id)
    assert (dataset["name"], dataset["n_samples"], dataset["classes"]) == ("flowers", 40, ["narrow", "wide"])

    shown = invoke(server, "dataset", "show", dataset_id)
    assert shown.exit_code == 0
    fields_text, schema_text = shown.stdout.split("\n\n")
    fields = dict(line.split(":", 1) for line in fields_text.splitlines())
    assert {name: value.strip() for name, value in fields.items() if name in ("id", "rows", "features", "task")} \
        == {"id": dataset_id, "rows": "40", "features": "petal, sepal", "task": "classification"}
    assert fields["target"].strip() == "kind (string): classification, the target holds text: class labels"
    # The schema, a column a line: name, kind, missing cells, distinct values.
    schema = [line.split()[:4] for line in schema_text.splitlines()]
    assert schema == [["COLUMN", "KIND", "MISSING", "DISTINCT"], ["petal", "numeric", "0", "7"],
                      ["sepal", "numeric", "0", "5"]]

    listed = invoke(server, "datasets")
    assert listed.exit_code == 0
    assert listed.stdout.splitlines()[0].split() == ["ID", "NAME", "TASK", "ROWS", "FEATURES", "CREATED"]
    rows = [row.split()[:5] for row in listed.stdout.splitlines()]
    assert [dataset_id, "flowers", "classification", "40", "2"] in rows

    deleted = invoke(server, "dataset", "delete", dataset_id)
    assert (deleted.exit_code, deleted.stdout.strip()) == (0, f"deleted {dataset_id}")
    with pytest.raises(NotFound):
        client.dataset(dataset_id)
    again = invoke(server, "dataset", "show", dataset_id)
    assert again.exit_code == 1 and f"no dataset with id '{dataset_id}'" in again.stderr


def test_a_generated_dataset_takes_samples_noise_and_seed(server, client):
    args = ("dataset", "create", "--generator", "spiral", "--samples", "60", "--noise", "0.2", "--seed", "7")
    first, second = invoke(server, *args), invoke(server, *args)
    assert (first.exit_code, second.exit_code) == (0, 0), first.output
    one, two = client.dataset(first.stdout.strip()), client.dataset(second.stdout.strip())
    assert (one["name"], one["task"], one["n_samples"], one["classes"]) == ("spiral", "classification", 60, [0, 1])
    assert one["id"] != two["id"]
    shown = invoke(server, "dataset", "show", one["id"])
    fields = dict(line.split(":", 1) for line in shown.stdout.splitlines())
    assert fields["task reason"].strip() == "the spiral generator's task"


@pytest.mark.parametrize("argv", [
    ["dataset", "create"],  # Neither a file nor a generator.
    ["dataset", "create", "{csv}", "--generator", "spiral"],
    ["dataset", "create", "{csv}"],  # No --target.
    ["dataset", "create", "{csv}", "--target", "kind", "--samples", "10"],
    ["dataset", "create", "--generator", "spiral", "--target", "kind"],
    ["dataset", "create", "no-such-file.csv", "--target", "kind"],
])
def test_contradicting_dataset_options_are_usage_errors(argv, csv_file):
    result = invoke("http://127.0.0.1:1", *[str(csv_file) if arg == "{csv}" else arg for arg in argv])
    assert result.exit_code == 2 and "Usage: axon dataset create" in result.output


def test_a_bad_csv_exits_1_naming_the_column(server, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    result = invoke(server, "dataset", "create", str(path), "--target", "label")
    assert result.exit_code == 1
    assert "label" in result.stderr and "Traceback" not in result.output


def test_train_on_an_uploaded_dataset_then_show_its_model(server, client, csv_file):
    dataset_id = invoke(server, "dataset", "create", str(csv_file), "--target", "kind").stdout.strip()
    trained = invoke(server, "train", "--dataset", dataset_id, "--layers", "4:tanh", "--epochs", "3", "--wait")
    assert trained.exit_code == 0, trained.output
    job_id, final = trained.stdout.splitlines()
    model_id = final.removeprefix("succeeded model ")
    assert client.job(job_id)["dataset_id"] == dataset_id

    shown = invoke(server, "model", model_id)
    assert shown.exit_code == 0
    fields = {name: value.strip() for name, value in (line.split(":", 1) for line in shown.stdout.splitlines())}
    assert (fields["job"], fields["task"], fields["features"], fields["layers"]) == (job_id, "classification", "2",
                                                                                     "4:tanh")
    assert fields["classes"] == '["narrow", "wide"]' and "loss " in fields["metrics"]
    assert invoke(server, "model", "no-such-model").exit_code == 1


def test_a_dataset_in_use_cannot_be_deleted(server, client):
    dataset_id = invoke(server, "dataset", "create", "--generator", "circle", "--samples", "500").stdout.strip()
    job = client.submit(dataset_id, {"layers": [{"units": 16}], "epochs": 100_000, "batch_size": 2, "device": "cpu"})
    try:
        refused = invoke(server, "dataset", "delete", dataset_id)
    finally:
        client.cancel(job["id"])
    assert refused.exit_code == 1
    assert "used by a queued, running or cancelling job" in refused.stderr
    assert client.dataset(dataset_id)["id"] == dataset_id
