"""Does Axon learn what the references learn? The parity matrix and the defaults, as tables.

Parity: every cell of ``tests/mlp/parity.py`` (the suite CI runs), scored by scikit-learn; by Axon
and by PyTorch (when torch is installed: ``make bench-learning`` tries) trained as scikit-learn is
(its starting weights, the rows in order: what the suite asserts on); and by Axon as a user runs it
(its own initialiser, shuffled batches, regression targets scaled). Defaults: held-out scores of a spec naming only its layers under candidate
(learning rate, batch size, epochs, early stopping), on the playground's four classification
shapes and scikit-learn's data sets, beside scikit-learn's own defaults. Prints Markdown tables
for docs/learning.md; exits 0 (a benchmark, not a test).

Run: ``make bench-learning``, or ``.venv/bin/python bench/learning.py [--part parity|defaults] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

# The working tree's engine and its test helpers, whatever the venv's editable install says.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mlp import NetworkSpec, fit  # noqa: E402
from mlp.playground_data import GeneratorSpec, generate  # noqa: E402
from tests.mlp.parity import (  # noqa: E402
    BUNDLED, Cell, axon_score, bundled_cells, fit_quietly, mean_scores, playground_cells, score,
    sklearn_initial_parameters, sklearn_score,
)

try:
    import torch

    torch.set_num_threads(1)  # As BLAS below: tiny matrices, and more threads only contend.
except ImportError:  # The PyTorch column then reads "n/a".
    torch = None


def torch_score(cell: Cell, seed: int) -> float:
    """PyTorch trained as the suite trains Axon: scikit-learn's start, the rows in order, float64 Adam."""
    split = cell.split(seed)
    train_features, test_features = split.standardised()
    classification = split.task == "classification"
    classes = np.unique(split.train_targets) if classification else None
    n_outputs = (1 if len(classes) == 2 else len(classes)) if classification else 1
    sizes = [train_features.shape[1], *cell.hidden, n_outputs]
    weights, biases = sklearn_initial_parameters(cell, sizes, seed)
    activation = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid,
                  "linear": torch.nn.Identity}[cell.activation]
    layers = []
    for index, (weight, bias) in enumerate(zip(weights, biases)):
        linear = torch.nn.Linear(*weight.shape, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(weight.T))
            linear.bias.copy_(torch.from_numpy(bias))
        layers += [linear] + ([activation()] if index < len(weights) - 1 else [])
    network = torch.nn.Sequential(*layers)
    if classification:
        targets = torch.from_numpy(np.searchsorted(classes, split.train_targets))
        loss = torch.nn.BCEWithLogitsLoss() if n_outputs == 1 else torch.nn.CrossEntropyLoss()
        targets = targets.double().reshape(-1, 1) if n_outputs == 1 else targets
    else:
        targets, loss = torch.from_numpy(split.train_targets).double().reshape(-1, 1), torch.nn.MSELoss()
    features = torch.from_numpy(train_features)
    optimizer = torch.optim.Adam(network.parameters(), lr=cell.learning_rate)
    for _ in range(cell.epochs):
        for start in range(0, len(features), cell.batch_size):
            optimizer.zero_grad()
            loss(network(features[start : start + cell.batch_size]), targets[start : start + cell.batch_size]).backward()
            optimizer.step()
    with torch.no_grad():
        outputs = network(torch.from_numpy(test_features))
    if not classification:
        return score(split, outputs.numpy().ravel())
    indices = (outputs[:, 0] > 0).long() if n_outputs == 1 else outputs.argmax(dim=1)
    return score(split, classes[indices.numpy()])


def parity(quick: bool) -> None:
    cells = playground_cells() + bundled_cells()
    if quick:
        cells = cells[::7]
    print("| cell | scikit-learn | Axon, trained as scikit-learn | PyTorch, trained as scikit-learn | "
          "Axon as a user runs it (own init, shuffled) |")
    print("|---|---|---|---|---|")
    began, worst = time.perf_counter(), []
    for cell in cells:
        sklearn = np.mean(mean_scores(sklearn_score, cell))
        shared = np.mean(mean_scores(axon_score, cell))
        own = np.mean(mean_scores(axon_score, cell, own_init=True))
        pytorch = f"{np.mean(mean_scores(torch_score, cell)):.3f}" if torch is not None else "n/a"
        worst.append((shared - sklearn, cell.name))
        print(f"| {cell.name} ({cell.seeds} seeds) | {sklearn:.3f} | {shared:.3f} | {pytorch} | {own:.3f} |", flush=True)
    gap, name = min(worst)
    print(f"\n{len(cells)} cells in {time.perf_counter() - began:.0f} s; the largest shortfall of Axon "
          f"(shared start) behind scikit-learn: {gap:+.4f} ({name})")


# (learning rate, batch size, epochs, early stopping) of Adam; the first is the old default.
CANDIDATES = [
    (1e-3, 32, 100, None),
    (3e-3, 32, 200, None),
    (1e-2, 32, 100, None),
    (1e-2, 32, 200, None),
    (3e-2, 32, 100, None),
    (1e-2, 32, 300, {"patience": 50}),
]
SHAPES = ("circle", "xor", "gauss", "spiral")


def layers_only_scores(kind_or_name: str, activation: str, candidate, seeds: int = 3) -> float:
    """Mean held-out score of two hidden layers of 16 under ``candidate`` (None: scikit-learn's defaults)."""
    scores = []
    for seed in range(seeds):
        if kind_or_name in SHAPES:
            train = generate(GeneratorSpec(kind=kind_or_name, noise=0.1, seed=seed))
            test = generate(GeneratorSpec(kind=kind_or_name, noise=0.1, seed=10_000, n_samples=2000))
            split_task, data = "classification", (train.features, train.targets, test.features, test.targets)
        else:
            split = Cell(kind_or_name, 0.0, (), activation, (16, 16), 0, 0, 0).split(seed)
            split_task = split.task
            data = (split.train_features, split.train_targets, split.test_features, split.test_targets)
        train_x, train_y, test_x, test_y = data
        if candidate is None:
            from sklearn.neural_network import MLPClassifier, MLPRegressor
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            estimator = MLPClassifier if split_task == "classification" else MLPRegressor
            model = fit_quietly(make_pipeline(StandardScaler(), estimator(random_state=seed)), train_x, train_y)
            predictions = model.predict(test_x)
        else:
            learning_rate, batch_size, epochs, stopping = candidate
            spec = NetworkSpec.model_validate({
                "layers": [{"units": 16, "activation": activation}] * 2, "seed": seed, "device": "cpu",
                "optimizer": {"name": "adam", "learning_rate": learning_rate}, "batch_size": batch_size,
                "epochs": epochs, "early_stopping": stopping,
            })
            predictions = fit(spec, train_x, train_y, task=split_task).model.predict(test_x).predictions
        if split_task == "classification":
            scores.append(float((predictions == test_y).mean()))
        else:
            from sklearn.metrics import r2_score

            scores.append(float(r2_score(test_y, predictions)))
    return float(np.mean(scores))


def defaults(quick: bool) -> None:
    columns = list(SHAPES) + list(BUNDLED)
    if quick:
        columns = ["spiral", "iris", "diabetes"]
    print("| Adam lr, batch, epochs, stopping | activation | " + " | ".join(columns) + " | seconds |")
    print("|---|---|" + "---|" * (len(columns) + 1))
    rows = [("scikit-learn's defaults (100 relu units)", None)] + [
        (f"{lr:g}, {batch}, {epochs}, {'patience ' + str(stop['patience']) if stop else 'none'}", (lr, batch, epochs, stop))
        for lr, batch, epochs, stop in CANDIDATES
    ]
    for label, candidate in rows:
        for activation in (("relu",) if candidate is None else ("tanh", "relu")):
            began = time.perf_counter()
            values = [layers_only_scores(column, activation, candidate) for column in columns]
            cells = " | ".join(f"{value:.3f}" for value in values)
            print(f"| {label} | {activation} | {cells} | {time.perf_counter() - began:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["parity", "defaults", "all"], default="all")
    parser.add_argument("--quick", action="store_true", help="A few cells and columns, for a smoke run.")
    arguments = parser.parse_args()
    with threadpool_limits(limits=1, user_api="blas"):  # Tiny matrices: threads only contend.
        if arguments.part in ("parity", "all"):
            parity(arguments.quick)
        if arguments.part in ("defaults", "all"):
            print()
            defaults(arguments.quick)


if __name__ == "__main__":
    main()
