"""The dashboard in a real browser against a real ``axon serve``: key prompt, the new-job form,
live curves, the decision boundary, cancel, the model page and the jobs list."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support.live import metrics_epochs

from .conftest import screenshot

# A tiny job (2 -> 8 -> 2 tanh on 200 points) that trains in well under a second.
TINY_EPOCHS = 30
ORANGE, BLUE = (245, 147, 34), (8, 119, 189)  # The first and second class, as boundary.js paints them.
FINISH_SECONDS = 40


def stored_epochs(server, job_id: str) -> list[int]:
    """Every stored epoch of the job, all pages of them: a fast machine trains past one page before a cancel."""
    with server.client() as client:
        return metrics_epochs(client, job_id)


def canvas_colours(page) -> list[tuple[int, int, int]]:
    """Every 7th pixel of the boundary canvas as RGB, read back from the canvas itself."""
    return [tuple(pixel) for pixel in page.evaluate("""() => {
        const canvas = document.getElementById("boundary");
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        const pixels = [];
        for (let at = 0; at < data.length; at += 4 * 7) pixels.push([data[at], data[at + 1], data[at + 2]]);
        return pixels;
    }""")]


def leans_towards(colour, target) -> bool:
    """A heatmap cell is ``target`` mixed with white: closer to it than to the other class colour."""
    other = BLUE if target == ORANGE else ORANGE
    distance = lambda a, b: sum((x - y) ** 2 for x, y in zip(a, b))  # noqa: E731
    return colour != (255, 255, 255) and distance(colour, target) < distance(colour, other) \
        and abs(colour[0] - colour[2]) > 40


def test_without_a_key_the_page_asks_for_one_and_then_uses_it(new_page, server):
    page = new_page(keyed=False)
    page.goto("/")
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.locator("#key-message")).to_contain_text("needs an API key")
    page.fill("#key-input", "axon_wrong")
    page.click("#key-form button")
    expect(page.locator("#key-message")).to_contain_text("Key refused")  # The API said why.
    page.fill("#key-input", server.key)
    page.click("#key-form button")
    expect(page.locator("#key-form")).to_be_hidden()
    expect(page.locator("#jobs-empty")).to_be_visible()
    assert page.evaluate("localStorage.getItem('axon.key')") == server.key


def test_a_job_from_the_form_trains_with_live_curves_and_a_boundary(new_page, server):
    page = new_page()
    page.goto("/new")
    page.select_option("#generator-kind", "xor")
    page.fill("#generator-samples", "200")
    page.fill("#generator-noise", "0.05")
    page.locator("#layers-body tr").nth(1).get_by_role("button", name="Remove").click()
    expect(page.locator("#layers-body tr")).to_have_count(1)
    page.fill("#epochs", str(TINY_EPOCHS))
    page.fill("#batch-size", "10")
    page.fill("#learning-rate", "0.03")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    job_id = page.url.rsplit("/", 1)[1]

    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=FINISH_SECONDS * 1000)
    # One point per epoch on each chart, the same epochs the API stored.
    expect(page.locator("#loss-chart")).to_have_attribute("data-points", str(TINY_EPOCHS))
    expect(page.locator("#score-chart")).to_have_attribute("data-points", str(TINY_EPOCHS))
    assert stored_epochs(server, job_id) == list(range(1, TINY_EPOCHS + 1))
    assert page.evaluate("document.getElementById('loss-chart').querySelector('canvas') !== null")
    expect(page.locator("#progress-text")).to_have_text(f"epoch {TINY_EPOCHS} of {TINY_EPOCHS}")

    # The heatmap shows the final model, painted in both classes' colours.
    expect(page.locator("#boundary")).to_have_attribute("data-source", "model")
    expect(page.locator("#boundary")).to_have_attribute("data-epoch", str(TINY_EPOCHS))
    colours = canvas_colours(page)
    assert sum(leans_towards(colour, ORANGE) for colour in colours) > 100
    assert sum(leans_towards(colour, BLUE) for colour in colours) > 100
    expect(page.locator("#cancel")).to_be_hidden()
    screenshot(page, "job")

    # The model page: final metrics, a prediction from the form.
    page.click("#model-link a")
    page.wait_for_url(re.compile(r"/models/[0-9a-f]{32}$"))
    expect(page.locator("#metrics-table")).to_contain_text("val accuracy")
    page.fill("#predict-input", "0.5, 0.5\n-0.5, 0.5")
    page.click("#predict-form button")
    expect(page.locator("#predictions tbody tr")).to_have_count(2)
    predicted = page.locator("#predictions td.prediction").all_text_contents()
    assert set(predicted) <= {"0", "1"}
    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename.endswith(".npz")
    screenshot(page, "model")

    # The jobs list shows it, and the status filter hides it.
    page.goto("/")
    row = page.locator(f"tr[data-job-id='{job_id}']")
    expect(row).to_contain_text("succeeded")
    expect(row).to_contain_text(f"{TINY_EPOCHS}/{TINY_EPOCHS}")
    expect(row).to_contain_text("ago")
    page.select_option("#status-filter", "failed")
    expect(row).to_have_count(0)
    assert "status=failed" in page.url
    page.select_option("#status-filter", "succeeded")
    expect(row).to_be_visible()
    screenshot(page, "jobs")


def test_refused_input_is_shown_in_words_with_the_field_marked(new_page):
    page = new_page()
    page.goto("/new")
    page.fill("#generator-samples", "1")
    page.click("#submit")
    problem = page.locator("#problem")
    expect(problem).to_contain_text("The dataset was refused")
    expect(problem).to_contain_text("/generator/n_samples")
    expect(page.locator("#generator-samples")).to_have_class(re.compile("invalid"))

    page.fill("#generator-samples", "50")
    page.locator("#layers-body .units").first.fill("0")
    page.click("#submit")
    expect(problem).to_contain_text("The job was refused")
    expect(problem).to_contain_text("/spec/layers/0/units")
    expect(page.locator("#layers-body .units").first).to_have_class(re.compile("invalid"))
    expect(page.locator("#generator-samples")).not_to_have_class(re.compile("invalid"))
    assert page.url.endswith("/new")
    screenshot(page, "refused")


def test_a_failed_job_says_why_in_words(new_page, server):
    spec = {"layers": [{"units": 8, "activation": "relu"}], "epochs": 5, "device": "cpu",
            "optimizer": {"name": "sgd", "learning_rate": 1e30}}  # Diverges in its first epoch.
    with server.client() as client:
        dataset = client.post("/v1/datasets", json={"generator": {"kind": "xor", "n_samples": 100}}).json()
        job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": spec}).json()
    page = new_page()
    page.goto(f"/jobs/{job['id']}")
    expect(page.locator("#job-status")).to_have_text("failed", timeout=FINISH_SECONDS * 1000)
    error = page.locator("#job-error")
    expect(error).to_contain_text("The job failed: diverged")
    expect(error).to_contain_text("the training loss is not finite")
    expect(page.locator("#model-link")).to_be_hidden()
    expect(page.locator("#cancel")).to_be_hidden()


def test_an_uploaded_csv_trains_and_is_then_offered_as_an_existing_dataset(new_page):
    rows = "\n".join(f"{x / 10:.1f},{(x * 7 % 10) / 10:.1f},{'yes' if x % 2 else 'no'}" for x in range(40))
    page = new_page()
    page.goto("/new")
    page.check("input[name=source][value=upload]")
    page.set_input_files("#upload-file", files=[{"name": "points.csv", "mimeType": "text/csv",
                                                  "buffer": f"a,b,label\n{rows}\n".encode()}])
    page.fill("#upload-target", "label")
    page.fill("#epochs", "5")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    expect(page.locator("#job-facts")).to_contain_text("points.csv: 40 rows × 2 features, classification")
    expect(page.locator("#boundary-legend")).to_contain_text("no")  # String labels name the classes.

    page.goto("/new")
    page.check("input[name=source][value=existing]")
    expect(page.locator("#dataset-select")).to_contain_text("points.csv — classification, 40 × 2")


def test_an_upload_with_categorical_columns_trains_and_its_schema_is_shown(new_page):
    colours, islands = ["red", "green", "blue"], ["Dream", "Biscoe", ""]
    rows = "\n".join(f"{index},{colours[index % 3]},{islands[index % 4 % 3]},{index / 10:.1f},{index % 2 == 0},"
                     f"{'yes' if index % 3 else 'no'}" for index in range(60))
    page = new_page()
    page.goto("/new")
    page.check("input[name=source][value=upload]")
    page.set_input_files("#upload-file", files=[{"name": "shops.csv", "mimeType": "text/csv",
                                                  "buffer": f",colour,island,size,open,label\n{rows}\n".encode()}])
    page.fill("#upload-target", "label")
    page.fill("#upload-columns", '{"size": "ignore"}')
    page.fill("#epochs", "5")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    job_url = page.url
    expect(page.locator("#job-facts")).to_contain_text("shops.csv: 60 rows")

    page.goto("/new")
    page.check("input[name=source][value=existing]")
    expect(page.locator("#dataset-select")).to_contain_text("shops.csv")
    page.select_option("#dataset-select", page.locator("#dataset-select option", has_text="shops.csv")
                       .first.get_attribute("value"))
    schema = page.locator("#dataset-schema table.schema")
    expect(schema).to_contain_text("colour")
    rows_text = schema.locator("tbody tr").all_inner_texts()
    assert [row.split("\t")[:3] for row in rows_text] == [
        ["Unnamed: 0", "identifier", "0"], ["colour", "categorical", "0"], ["island", "categorical", "15"],
        ["size", "ignored", "0"], ["open", "boolean", "0"]]
    expect(schema.locator("tbody tr").nth(1)).to_contain_text("blue, green, red")
    expect(page.locator("#dataset-schema .schema-target")).to_contain_text("Target label (string): classification")

    # The job page links to the dataset's own page, which shows the same schema.
    page.goto(job_url)
    page.click("#dataset-link")
    page.wait_for_url(re.compile(r"/datasets/[0-9a-f]{32}$"))
    expect(page.locator("#dataset-facts")).to_contain_text("shops.csv")
    expect(page.locator("#dataset-facts")).to_contain_text("classification: the target holds text")
    on_page = page.locator("#dataset-schema table.schema tbody tr")
    expect(on_page).to_have_count(5)
    assert on_page.all_inner_texts() == rows_text
    expect(page.locator("#dataset-schema .schema-target")).to_contain_text("Target label (string): classification")
    screenshot(page, "dataset")


def test_a_running_job_is_redrawn_as_it_trains_and_can_be_cancelled(new_page, server):
    with server.client() as client:
        dataset = client.post("/v1/datasets", json={"generator": {"kind": "circle", "n_samples": 200, "noise": 0.05}})
        spec = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 20_000, "batch_size": 10, "device": "cpu"}
        job = client.post("/v1/jobs", json={"dataset_id": dataset.json()["id"], "spec": spec}).json()
    page = new_page()
    page.goto(f"/jobs/{job['id']}")
    boundary = page.locator("#boundary")
    expect(boundary).to_have_attribute("data-source", "checkpoint", timeout=FINISH_SECONDS * 1000)
    first_epoch = int(boundary.get_attribute("data-epoch"))
    # Redrawn from newer checkpoints while training goes on.
    page.wait_for_function(f"Number(document.getElementById('boundary').dataset.epoch) > {first_epoch}",
                           timeout=FINISH_SECONDS * 1000)
    expect(page.locator("#job-status")).to_have_text("running")
    page.click("#cancel")
    expect(page.locator("#job-status")).to_have_text("cancelled", timeout=FINISH_SECONDS * 1000)
    expect(page.locator("#cancel")).to_be_hidden()
    # After the end, the heatmap shows the last checkpoint the job wrote.
    with server.client() as client:
        final_epoch = client.get(f"/v1/jobs/{job['id']}/boundary?resolution=2").json()["epoch"]
    expect(boundary).to_have_attribute("data-epoch", str(final_epoch), timeout=FINISH_SECONDS * 1000)
    # The curves hold exactly the epochs the job finished before it stopped.
    stored = stored_epochs(server, job["id"])
    expect(page.locator("#loss-chart")).to_have_attribute("data-points", str(len(stored)), timeout=FINISH_SECONDS * 1000)
    assert stored == list(range(1, len(stored) + 1))
    screenshot(page, "cancelled")


def test_with_no_event_stream_to_spare_the_page_catches_up_from_the_metrics(new_page, busy_server):
    with busy_server.client() as client:
        dataset = client.post("/v1/datasets", json={"generator": {"kind": "circle", "n_samples": 200, "noise": 0.05}})
        spec = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 60, "batch_size": 10, "device": "cpu"}
        job = client.post("/v1/jobs", json={"dataset_id": dataset.json()["id"], "spec": spec}).json()
        assert client.get(f"/v1/jobs/{job['id']}/events").status_code == 503  # No stream, ever.
    page = new_page(on=busy_server)
    page.goto(f"/jobs/{job['id']}")

    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=FINISH_SECONDS * 1000)
    # Every epoch once, read from the metrics pages instead of the stream.
    expect(page.locator("#loss-chart")).to_have_attribute("data-points", "60", timeout=FINISH_SECONDS * 1000)
    assert stored_epochs(busy_server, job["id"]) == list(range(1, 61))
    expect(page.locator("#boundary")).to_have_attribute("data-source", "model", timeout=FINISH_SECONDS * 1000)


def test_the_status_badge_follows_the_event_stream_while_the_poll_lags(new_page, server):
    """Every poll of the job answers as it stood before training began ("queued", epoch 0): the
    badge still says "running" once the stream brings epochs, and the end event's final status."""
    with server.client() as client:
        dataset = client.post("/v1/datasets", json={"generator": {"kind": "circle", "n_samples": 200, "noise": 0.05}})
        spec = {"layers": [{"units": 8, "activation": "tanh"}], "epochs": 20_000, "batch_size": 10, "device": "cpu"}
        job = client.post("/v1/jobs", json={"dataset_id": dataset.json()["id"], "spec": spec}).json()
    page = new_page()
    polls = []

    def stale_poll(route):
        answer = route.fetch().json()
        polls.append(answer["status"])
        route.fulfill(json={**answer, "status": "queued", "epoch": 0, "progress": 0.0, "metrics": None,
                            "model_id": None, "started_at": None, "finished_at": None})

    page.route(re.compile(rf"/v1/jobs/{job['id']}$"), stale_poll)
    page.goto(f"/jobs/{job['id']}")
    page.wait_for_function("/^epoch [1-9]/.test(document.getElementById('progress-text').textContent)",
                           timeout=FINISH_SECONDS * 1000)
    expect(page.locator("#job-status")).to_have_text("running")
    with server.client() as client:
        assert client.post(f"/v1/jobs/{job['id']}/cancel").status_code in (200, 202)
    expect(page.locator("#job-status")).to_have_text("cancelled", timeout=FINISH_SECONDS * 1000)
    expect(page.locator("#cancel")).to_be_hidden()
    # A poll in flight when the page closes would find its response disposed: let it finish first.
    page.unroute_all(behavior="wait")
    assert polls and set(polls) <= {"queued", "running", "cancelling", "cancelled"}  # The page did poll, stale.
