"""The model page shows the evaluation report training stored: scores, the confusion matrix and
per-class scores, the same numbers as GET /v1/models/{id}, in a real browser."""

from __future__ import annotations

import time

import numpy as np
from playwright.sync_api import expect

from .conftest import screenshot

FINISH_SECONDS = 60


def trained_model(server, body: dict, spec: dict) -> dict:
    """Upload ``body`` as a dataset, train ``spec`` on it, and return the model as the API shows it."""
    with server.client() as client:
        dataset = client.post("/v1/datasets", json=body).json()
        job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": spec}).json()
        deadline = time.monotonic() + FINISH_SECONDS
        while job["status"] != "succeeded":
            assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
            time.sleep(0.2)
            job = client.get(f"/v1/jobs/{job['id']}").json()
        return client.get(f"/v1/models/{job['model_id']}").json()


def test_the_model_page_shows_the_confusion_matrix_of_the_validation_split(new_page, server):
    rng = np.random.default_rng(5)
    centres = np.array([[0, 0], [3, 0], [0, 3]])
    labels = np.repeat(["north", "east", "west"], 60)
    features = centres[np.repeat(np.arange(3), 60)] + rng.normal(scale=0.9, size=(180, 2))
    model = trained_model(server, {"features": features.tolist(), "targets": labels.tolist()},
                          {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 40, "validation_split": 0.3,
                           "seed": 2})
    report = model["evaluation"]
    assert report["evaluated_on"] == "validation" and report["classes"] == ["east", "north", "west"]

    page = new_page()
    page.goto(f"/models/{model['id']}")
    expect(page.locator("#evaluation")).to_be_visible()
    expect(page.locator("#evaluated-on")).to_have_text(f"on the validation split, {report['n_samples']} rows")
    expect(page.locator("#evaluation-table")).to_contain_text("macro F1")
    expect(page.locator("#evaluation-table")).not_to_contain_text("ROC AUC")  # Three classes: none.
    rows = page.locator("#confusion-matrix tbody tr")
    expect(rows).to_have_count(3)
    assert page.locator("#confusion-matrix thead th").all_text_contents()[1:] == ["east", "north", "west"]
    shown = [[int(cell) for cell in rows.nth(index).locator("td").all_text_contents()] for index in range(3)]
    assert shown == report["confusion_matrix"]
    assert sum(map(sum, shown)) == report["n_samples"] == 54
    assert sum(shown[index][index] for index in range(3)) >= 40  # Mostly on the diagonal: it learned.
    per_class = page.locator("#per-class tbody tr")
    expect(per_class).to_have_count(3)
    assert [per_class.nth(index).locator("td").last.text_content() for index in range(3)] == [
        str(entry["support"]) for entry in report["per_class"]]
    screenshot(page, "model-evaluation")


def test_a_regressor_shows_its_errors_and_no_matrix(new_page, server):
    rng = np.random.default_rng(6)
    features = rng.uniform(-2, 2, size=(120, 2))
    targets = (3 * features[:, 0] - features[:, 1] + 10 + rng.normal(scale=0.1, size=120)).tolist()
    model = trained_model(server, {"features": features.tolist(), "targets": targets},
                          {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 30, "validation_split": 0.0})
    page = new_page()
    page.goto(f"/models/{model['id']}")
    expect(page.locator("#evaluated-on")).to_contain_text("on the training split (there was no validation split")
    expect(page.locator("#evaluation-table")).to_contain_text("RMSE")
    expect(page.locator("#confusion")).to_be_hidden()
    assert model["evaluation"]["evaluated_on"] == "training"
