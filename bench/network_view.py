"""The network view's grids: computed server-side, or by a batched forward pass in the browser?

For a 6x8 tanh network (six hidden layers of 8) on 2-feature data at 50x50, it times both ways of
getting every neuron's grid to the page, each the best of the repetitions:

* server: service.api.network_view.neuron_grids (one re-entrant forward pass over the 2,500 grid
  points, mlp.activity) and the JSON of the answer; the bytes that then cross the network.
* browser: the JSON of the weights alone (what the page would fetch instead), and a batched
  forward pass over the same 2,500 points written in JavaScript, timed in the headless chromium
  the dashboard tests use (Playwright, /usr/bin/chromium), checked against the server's grids.

A benchmark, not a test: it prints the figures and always exits 0.

    .venv/bin/python bench/network_view.py [--repeats 20] [--resolution 50]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mlp import NetworkSpec, fit  # noqa: E402
from mlp.playground_data import GeneratorSpec, generate  # noqa: E402
from service.api.network_view import network_layers, neuron_grids  # noqa: E402
from service.plane import Plane  # noqa: E402

FORWARD_JS = """
([layers, mean, std, x, y, repeats]) => {
  // One batched pass: every layer's outputs for all points at once, as flat Float64Arrays.
  const forward = () => {
    const n = x.length * y.length;
    let input = new Float64Array(n * 2);
    for (let i = 0; i < y.length; i += 1) for (let j = 0; j < x.length; j += 1) {
      input[(i * x.length + j) * 2] = (x[j] - mean[0]) / std[0];
      input[(i * x.length + j) * 2 + 1] = (y[i] - mean[1]) / std[1];
    }
    const outputs = [];
    let width = 2;
    layers.forEach((layer, index) => {
      const fanOut = layer.biases.length;
      const out = new Float64Array(n * fanOut);
      for (let row = 0; row < n; row += 1) for (let k = 0; k < fanOut; k += 1) {
        let sum = layer.biases[k];
        for (let m = 0; m < width; m += 1) sum += input[row * width + m] * layer.weights[m][k];
        out[row * fanOut + k] = index < layers.length - 1 ? Math.tanh(sum) : 1 / (1 + Math.exp(-sum));
      }
      outputs.push(out);
      input = out;
      width = fanOut;
    });
    return outputs;
  };
  let best = Infinity, outputs = null;
  for (let r = 0; r < repeats; r += 1) {
    const start = performance.now();
    outputs = forward();
    best = Math.min(best, performance.now() - start);
  }
  return {best_ms: best, first_layer_first_neuron: Array.from(outputs[0].filter((_, i) => i % 8 === 0)),
          output: Array.from(outputs.at(-1))};
}
"""


def best_of(repeats: int, action) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--resolution", type=int, default=50)
    args = parser.parse_args()
    data = generate(GeneratorSpec(kind="circle", n_samples=500, seed=1))
    spec = NetworkSpec(layers=[{"units": 8, "activation": "tanh"}] * 6, epochs=20, early_stopping=None, device="cpu")
    model = fit(spec, data.features, data.targets).model
    x = np.linspace(-6, 6, args.resolution)
    y = np.linspace(-6, 6, args.resolution)
    names = ["x1", "x2"]

    server_seconds, server_json = best_of(args.repeats, lambda: json.dumps(neuron_grids(model, Plane("x1", "x2", x, y, tuple(names)))))
    grids = json.loads(server_json)
    layers = [layer.model_dump() for layer in network_layers(model)]
    weights_seconds, weights_json = best_of(args.repeats, lambda: json.dumps(layers))
    print(f"network 2-{'-'.join(['8'] * 6)}-1 tanh, {args.resolution}x{args.resolution} grid, best of {args.repeats}")
    print(f"server grids: compute + JSON {server_seconds * 1e3:.2f} ms, {len(server_json) / 1e3:.0f} kB of JSON")
    print(f"weights only: JSON {weights_seconds * 1e3:.3f} ms, {len(weights_json) / 1e3:.1f} kB of JSON")

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page()
        answer = page.evaluate(FORWARD_JS, [layers, model.mean.tolist(), model.std.tolist(), x.tolist(), y.tolist(),
                                            args.repeats])
        browser.close()
    agrees = np.allclose(np.asarray(answer["output"]), np.asarray(grids[-1][0]).ravel(), atol=2e-3)
    print(f"browser batched forward pass (chromium): {answer['best_ms']:.2f} ms; agrees with the server's grids: {agrees}")


if __name__ == "__main__":
    main()
