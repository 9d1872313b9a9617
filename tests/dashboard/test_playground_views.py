"""The playground's views in a real browser: a pasted playground URL trains with the network view
drawing every neuron, the test-data and discretise toggles, hover, regression, more than 2
features, and the job page at 1400x1000 and on a narrow window (screenshots saved and looked at)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.service.test_playground import CLASSIC, CLASSIC_ONE_LINE, REGRESSION

from .conftest import screenshot
from .test_dashboard import BLUE, FINISH_SECONDS, ORANGE, canvas_colours, leans_towards

NEURON_PIXELS = """() => {
  // The centre pixel of each neuron's box, read back from the network canvas.
  const canvas = document.getElementById("network");
  const ratio = canvas.width / canvas.clientWidth;
  const context = canvas.getContext("2d");
  return JSON.parse(canvas.dataset.boxes).map(([x, y, size]) => {
    const pixels = context.getImageData(Math.round((x + 3) * ratio), Math.round((y + 3) * ratio),
                                        Math.round((size - 6) * ratio), Math.round((size - 6) * ratio)).data;
    const colours = new Set();
    for (let at = 0; at < pixels.length; at += 4) colours.add(`${pixels[at]},${pixels[at + 1]},${pixels[at + 2]}`);
    return [...colours].map((text) => text.split(",").map(Number));
  });
}"""


def neuron_colours(page) -> list[list[tuple[int, int, int]]]:
    return [[tuple(colour) for colour in colours] for colours in page.evaluate(NEURON_PIXELS)]


def test_a_pasted_playground_url_trains_with_every_neuron_drawn(new_page, server):
    page = new_page()
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto("/new")
    page.fill("#playground-url", CLASSIC)
    page.click("#playground-import")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=FINISH_SECONDS * 1000)
    network = page.locator("#network")
    expect(network).to_have_attribute("data-source", "model")
    # 2 inputs, 4 and 2 hidden, 1 output: every one a heatmap.
    expect(network).to_have_attribute("data-heatmaps", "9")
    expect(network).to_have_attribute("aria-label", re.compile(r"^Network 2-4-2-1: inputs x1, x2; each neuron"))
    neurons = neuron_colours(page)
    assert len(neurons) == 9
    # Each heatmap varies over the plane (a gradient, not a flat fill), and the output has both classes.
    assert all(len(colours) > 5 for colours in neurons), [len(colours) for colours in neurons]
    assert any(leans_towards(colour, ORANGE) for colour in neurons[-1])
    assert any(leans_towards(colour, BLUE) for colour in neurons[-1])
    expect(page.locator("#playground-link")).to_have_attribute("href", CLASSIC_ONE_LINE)
    expect(page.locator("#network-epoch")).to_contain_text("the model")
    screenshot(page, "playground-1400x1000")

    # Hover: a neuron tells its bias and range, a link its weight.
    box = network.bounding_box()
    x, y, size = page.evaluate("JSON.parse(document.getElementById('network').dataset.boxes)[3]")
    page.mouse.move(box["x"] + x + size / 2, box["y"] + y + size / 2)
    expect(page.locator("#network-hover")).to_contain_text("layer 1 neuron 2 · bias")

    # Test points appear with the toggle; discretised, the output is two colours at full strength.
    boundary = page.locator("#boundary")
    shown = int(boundary.get_attribute("data-points"))
    page.check("#show-test")
    assert int(boundary.get_attribute("data-points")) > shown
    graded = len(set(canvas_colours(page)))
    page.check("#discretise")
    assert len(set(canvas_colours(page))) < graded
    screenshot(page, "playground-toggles")

    page.set_viewport_size({"width": 480, "height": 1000})
    page.wait_for_timeout(300)  # The resize observer redraws the network at the new width.
    assert page.evaluate("document.documentElement.scrollWidth") <= 480
    expect(network).to_have_attribute("data-heatmaps", "9")
    screenshot(page, "playground-narrow")


def test_the_urls_display_settings_set_the_toggles(new_page):
    page = new_page()
    page.goto("/new")
    page.fill("#playground-url", CLASSIC.replace("showTestData=false", "showTestData=true"))
    page.click("#playground-import")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}\?showTestData=true$"))
    expect(page.locator("#show-test")).to_be_checked()
    expect(page.locator("#discretise")).not_to_be_checked()


def test_a_refused_playground_url_names_the_key(new_page):
    page = new_page()
    page.goto("/new")
    page.fill("#playground-url", CLASSIC_ONE_LINE + "&cosX=true")
    page.click("#playground-import")
    expect(page.locator("#playground-problem")).to_contain_text("cosX")


def test_regression_gets_the_views_on_a_continuous_scale(new_page, server):
    with server.client() as client:
        job = client.post("/v1/jobs/from-playground", json={"url": REGRESSION, "epochs": 15}).json()
    page = new_page()
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"/jobs/{job['id']}")
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=FINISH_SECONDS * 1000)
    network = page.locator("#network")
    expect(network).to_have_attribute("data-source", "model")
    # 4 inputs (x1, x2^2, x1*x2, sin x1), 6 + 6 + 3 hidden, 1 output.
    expect(network).to_have_attribute("data-heatmaps", "20")
    output = neuron_colours(page)[-1]
    assert len(output) > 20  # A continuous scale: many shades, not two classes.
    expect(page.locator("#network-note")).to_be_hidden()
    expect(page.locator("#boundary-title")).to_have_text("Predicted value")
    # The legend names the continuous scale's ends, from the predictions (this dataset places no points).
    legend = page.locator("#boundary-legend").inner_text()
    low, high = (float(number) for number in re.findall(r"\((-?[0-9.e+-]+)\)", legend))
    assert low < high, legend
    screenshot(page, "playground-regression")


def test_more_than_two_features_show_the_weights_and_say_why(new_page, server):
    rows = [[i % 3, i % 5, i % 7] for i in range(30)]
    with server.client() as client:
        dataset = client.post("/v1/datasets", json={"features": rows, "targets": [i % 2 for i in range(30)]}).json()
        job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": {
            "layers": [{"units": 5, "activation": "relu"}], "epochs": 5, "early_stopping": None}}).json()
    page = new_page()
    page.goto(f"/jobs/{job['id']}")
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=FINISH_SECONDS * 1000)
    expect(page.locator("#network")).to_have_attribute("data-neurons", "9")  # 3 inputs, 5 hidden, 1 output.
    expect(page.locator("#network")).to_have_attribute("data-heatmaps", "0")
    expect(page.locator("#network-note")).to_contain_text("3 features")
    screenshot(page, "playground-weights-only")


def test_the_network_view_follows_a_running_job_and_a_link_tells_its_weight(new_page, server):
    crossed = CLASSIC_ONE_LINE.replace("xTimesY=false", "xTimesY=true")
    with server.client() as client:
        job = client.post("/v1/jobs/from-playground", json={"url": crossed, "epochs": 20_000}).json()
    page = new_page()
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"/jobs/{job['id']}")
    network = page.locator("#network")
    expect(network).to_have_attribute("data-source", "checkpoint", timeout=FINISH_SECONDS * 1000)
    expect(network).to_have_attribute("data-heatmaps", "10")  # x1, x2, x1*x2; 4 and 2 hidden; the output.
    first_epoch = int(network.get_attribute("data-epoch"))
    page.wait_for_function(f"Number(document.getElementById('network').dataset.epoch) > {first_epoch}",
                           timeout=FINISH_SECONDS * 1000)
    # The playground's crossed input still has its decision boundary, over x1 and x2.
    expect(page.locator("#boundary")).to_have_attribute("data-source", "checkpoint")
    expect(page.locator("#boundary-note")).to_be_hidden()
    # Half-way along the link from the first input to the first neuron of layer 1.
    boxes = page.evaluate("JSON.parse(document.getElementById('network').dataset.boxes)")
    (x1, y1, s1), (x2, y2, _) = boxes[0], boxes[3]
    box = network.bounding_box()
    page.mouse.move(box["x"] + (x1 + s1 + x2) / 2, box["y"] + (y1 + y2 + s1) / 2)
    expect(page.locator("#network-hover")).to_contain_text("weight x1 → layer 1 neuron 1")
    screenshot(page, "playground-running")
    page.click("#cancel")
    expect(page.locator("#job-status")).to_have_text("cancelled", timeout=FINISH_SECONDS * 1000)
    with server.client() as client:
        final_epoch = client.get(f"/v1/jobs/{job['id']}/network?resolution=2").json()["epoch"]
    expect(network).to_have_attribute("data-epoch", str(final_epoch), timeout=FINISH_SECONDS * 1000)


ACTIVATIONS = ["linear", "relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid", "softplus"]
PAGE_GRIDS = """async ([answer]) => {
  const {forwardPass} = await import("/static/js/network.js");
  return forwardPass(answer).map((column) => column.map((values) => Array.from(values)));
}"""


def test_the_pages_forward_pass_equals_the_servers_grids_for_every_activation(new_page, server):
    """network.js writes each activation again in JavaScript; the server's grids (mlp.activity) are its oracle."""
    with server.client() as client:
        dataset = client.post("/v1/datasets", json={"generator": {"kind": "gauss", "n_samples": 60, "seed": 2,
                                                                  "features": ["x1", "x2", "sin(x1)"]}}).json()
        regression = client.post("/v1/datasets", json={"generator": {"kind": "plane", "n_samples": 60}}).json()
        jobs = {activation: client.post("/v1/jobs", json={"dataset_id": dataset["id"], "spec": {
            "layers": [{"units": 3, "activation": activation}] * 2, "epochs": 3, "early_stopping": None}}).json()
            for activation in ACTIVATIONS}
        jobs["regression"] = client.post("/v1/jobs", json={"dataset_id": regression["id"], "spec": {
            "layers": [{"units": 3, "activation": "elu"}], "epochs": 3, "early_stopping": None}}).json()
    page = new_page()
    page.goto("/")
    for name, job in jobs.items():
        with server.client() as client:
            for _ in range(200):
                if client.get(f"/v1/jobs/{job['id']}").json()["status"] == "succeeded":
                    break
                page.wait_for_timeout(100)
            answer = client.get(f"/v1/jobs/{job['id']}/network?resolution=9&grids=true").json()
        assert answer["source"] == "model", name
        computed = page.evaluate(PAGE_GRIDS, [answer])
        for column, (page_column, server_column) in enumerate(zip(computed, answer["grids"])):
            for page_values, server_values in zip(page_column, server_column):
                difference = max(abs(a - b) for a, b in zip(page_values, [value for row in server_values for value in row]))
                assert difference < 2e-3, (name, column, difference)
