"""The sweep page in a real browser against a real ``axon serve``: overlaid live curves, the
sampled-value scatter, the leaderboard and its links."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .conftest import screenshot

EPOCHS = 12
SPEC = {"layers": [{"units": 6, "activation": "tanh"}], "epochs": EPOCHS, "batch_size": 16, "device": "cpu"}
SPACE = {"/optimizer/learning_rate": {"type": "log_uniform", "low": 0.001, "high": 0.1},
         "/layers/0/units": {"type": "choice", "values": [3, 6]}}


def test_a_sweep_page_overlays_every_trials_curve_and_ranks_the_trials(new_page, server):
    with server.client() as client:
        dataset = client.post("/v1/datasets", json={"generator": {"kind": "spiral", "n_samples": 150, "seed": 4}})
        assert dataset.status_code == 201, dataset.text
        response = client.post("/v1/sweeps", json={"dataset_id": dataset.json()["id"], "spec": SPEC, "space": SPACE,
                                                   "n_trials": 3, "max_parallel": 2, "seed": 1})
        assert response.status_code == 202, response.text
    sweep_id = response.json()["id"]
    page = new_page()
    page.goto(f"/sweeps/{sweep_id}")  # Opened at once: the curves arrive live.

    expect(page.locator("#sweep-status")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#curves-chart")).to_have_attribute("data-trials", "3")
    expect(page.locator("#curves-chart")).to_have_attribute("data-points", str(3 * EPOCHS))
    expect(page.locator("#leaderboard-body tr")).to_have_count(3)
    for pointer in SPACE:
        expect(page.locator(f"canvas[data-pointer='{pointer}']")).to_have_attribute("data-points", "3")
    with server.client() as client:
        sweep = client.get(f"/v1/sweeps/{sweep_id}").json()
    # The page ranks as the API does, and links each trial to its job.
    rows = page.locator("#leaderboard-body tr")
    assert [rows.nth(index).get_attribute("data-job-id") for index in range(3)] == \
        [trial["job_id"] for trial in sweep["leaderboard"]]
    best = sweep["best"]
    assert rows.first.get_attribute("data-job-id") == best["job_id"]
    screenshot(page, "sweep")
    rows.first.locator("a", has_text="trial").click()
    expect(page).to_have_url(f"{server.url}/jobs/{best['job_id']}")
    expect(page.locator("#job-status")).to_have_text("succeeded")
    page.locator("#job-facts a", has_text="trial").click()  # And back from the job to its sweep.
    expect(page).to_have_url(f"{server.url}/sweeps/{sweep_id}")


def test_a_new_sweep_starts_from_a_jobs_spec_and_refused_input_names_the_pointer(new_page, server):
    with server.client() as client:
        dataset = client.post("/v1/datasets", json={"generator": {"kind": "xor", "n_samples": 120, "seed": 2}}).json()
        job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": SPEC}).json()
    page = new_page()
    page.goto(f"/jobs/{job['id']}")
    page.locator("#new-sweep").click()
    expect(page).to_have_url(f"{server.url}/sweeps/new?job={job['id']}")
    expect(page.locator("#sweep-spec")).to_have_value(re.compile(r'"epochs": 12'))
    page.fill("#sweep-space", '{"/layers/5/units": {"type": "int", "low": 2, "high": 4}}')
    page.fill("#sweep-trials", "2")
    page.click("#sweep-submit")
    expect(page.locator("#problem")).to_contain_text("/space/~1layers~15~1units")

    page.fill("#sweep-space", '{"/layers/0/units": {"type": "int", "low": 2, "high": 4}}')
    page.click("#sweep-submit")
    expect(page).to_have_url(re.compile(r"/sweeps/[0-9a-f]{32}$"))
    sweep_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#sweep-status")).to_have_text("succeeded", timeout=60_000)
    with server.client() as client:
        sweep = client.get(f"/v1/sweeps/{sweep_id}").json()
    assert sweep["dataset_id"] == dataset["id"] and sweep["n_trials"] == 2
    assert {trial["sampled"]["/layers/0/units"] for trial in sweep["leaderboard"]} <= {2, 3, 4}
