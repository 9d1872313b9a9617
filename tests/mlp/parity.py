"""The learning-parity matrix: cells of (data, network, training), and one runner per library.

A cell is one data set and one network trained one way. Each library trains it with the same
optimizer, learning rate, batch size and number of epochs, no early stopping, no penalty and no
validation split, on the same standardised training split, and is scored on the same held-out
rows: accuracy, or R² on the targets' own scale.

Both start from the same weights and biases, scikit-learn's Glorot-uniform draw for the seed
(reproduced by :func:`sklearn_initial_parameters` and checked against scikit-learn itself,
handed to Axon as an epoch-0 checkpoint), and both take the rows in the same order (no shuffle).
Small networks are a lottery of their start and of the batch order: a ReLU layer of 8 units ends
near 0.85 instead of 1.00 on xor for a few draws in a hundred, a spiral learnt by 8 units ends
anywhere from 0.58 to 0.82 from one seed to the next, in either library. With independent draws
three seeds cannot resolve one point (measured: seven cells apart by 1 to 6 points, in both
directions); with shared ones a difference is a difference of training. Axon as a user runs it
(its own initialiser, shuffled batches, its target scaling) is ``own_init=True``: measured by
``bench/learning.py``, and floored in ``test_learning_parity.py``. What still differs:

- Adam: scikit-learn adds eps to sqrt(v) before the bias correction, Axon and PyTorch after it.
- Regression: scikit-learn minimises half the MSE, Axon the MSE; Adam is blind to that factor.
- Targets: a ``raw`` cell gives both libraries the raw targets (Axon's ``standardize_targets``
  off, as scikit-learn has no such step), a ``scaled`` cell targets standardised by hand.

``tests/mlp/test_learning_parity.py`` asserts on these cells; ``bench/learning.py`` prints them
with PyTorch beside when it is installed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_linnerud, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from mlp import NetworkSpec, fit
from mlp.checkpoint import save_checkpoint
from mlp.playground_data import GENERATORS, GeneratorSpec, generate
from mlp.state import TrainingState, start

SKLEARN_ACTIVATION = {"tanh": "tanh", "relu": "relu", "sigmoid": "logistic", "linear": "identity"}
PLAYGROUND_TRAIN, PLAYGROUND_TEST = 500, 2000  # Rows: the playground's default, and a low-noise score.
TEST_SEED = 10_000  # Generator seed of the held-out rows; training rows use the cell's seed.
CROSSES = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]


@dataclass(frozen=True)
class Split:
    """Training and held-out rows of one cell and seed, as a user has them (not standardised)."""

    task: str
    train_features: np.ndarray  # (n_train, n_features)
    train_targets: np.ndarray  # (n_train,)
    test_features: np.ndarray  # (n_test, n_features)
    test_targets: np.ndarray  # (n_test,)

    def standardised(self) -> tuple[np.ndarray, np.ndarray]:
        """(train, test) features scaled by the training rows, as Axon's ``standardize`` does."""
        scaler = StandardScaler().fit(self.train_features)
        return scaler.transform(self.train_features), scaler.transform(self.test_features)


@dataclass(frozen=True)
class Cell:
    """One data set, one network, one way of training it; ``seeds`` runs per library."""

    data: str  # A playground kind, or a scikit-learn loader's name (``linnerud_pulse``: one target).
    noise: float  # Playground noise (0 for bundled data).
    features: tuple[str, ...]  # Playground input features (empty for bundled data).
    activation: str
    hidden: tuple[int, ...]
    learning_rate: float
    batch_size: int
    epochs: int
    seeds: int = 3
    targets: str = "raw"  # Regression only: "raw" or "scaled" (see the module docstring).

    @property
    def name(self) -> str:
        data = self.data if not self.noise else f"{self.data}/noise {self.noise:g}"
        if self.features and list(self.features) != ["x1", "x2"]:
            data += "/crosses"
        if self.targets == "scaled":
            data += "/scaled targets"
        shape = "-".join(str(units) for units in self.hidden)
        return f"{data} {self.activation} {shape}"

    def split(self, seed: int) -> Split:
        return _split(self.data, self.noise, self.features, self.targets, seed)


def playground_cells() -> list[Cell]:
    """The six generators at noise 0 and 0.25 x tanh, relu, sigmoid (and linear where a linear
    model can fit: gauss and plane) x one hidden layer of 8 and two of 16, plus the crosses on
    spiral and circle (where a linear hidden layer fits the circle)."""
    cells = []
    for kind in GENERATORS:
        for noise in (0.0, 0.25):
            activations = ["tanh", "relu", "sigmoid"] + (["linear"] if kind in ("gauss", "plane") else [])
            for activation in activations:
                for hidden in ((8,), (16, 16)):
                    cells.append(Cell(kind, noise, ("x1", "x2"), activation, hidden, *PLAYGROUND_TRAINING))
    for kind in ("spiral", "circle"):
        for activation in ["tanh", "relu"] + (["linear"] if kind == "circle" else []):
            cells.append(Cell(kind, 0.0, tuple(CROSSES), activation, (8,), *PLAYGROUND_TRAINING))
    return cells


# Learning rate, batch size, epochs on the playground's shapes (500 rows): the references converge.
PLAYGROUND_TRAINING = (0.01, 32, 200)

BUNDLED = {  # name -> (loader, task, target column for several targets)
    "iris": (load_iris, "classification", None),
    "wine": (load_wine, "classification", None),
    "digits": (load_digits, "classification", None),
    "breast_cancer": (load_breast_cancer, "classification", None),
    "diabetes": (load_diabetes, "regression", None),
    "linnerud_weight": (load_linnerud, "regression", 0),
    "linnerud_waist": (load_linnerud, "regression", 1),
    "linnerud_pulse": (load_linnerud, "regression", 2),
}


def bundled_cells() -> list[Cell]:
    """Every data set that ships with scikit-learn, relu and tanh, one hidden layer of 32 units;
    regression on raw and on standardised targets. Linnerud has 20 rows (15 to train on), so one
    seed's R² swings by tenths: it gets 20 seeds."""
    cells = []
    for name, (_, task, _) in BUNDLED.items():
        training = BUNDLED_TRAINING.get(name, BUNDLED_TRAINING[task])
        for activation in ("relu", "tanh"):
            for targets in (("raw", "scaled") if task == "regression" else ("raw",)):
                cells.append(Cell(name, 0.0, (), activation, (32,), *training, targets=targets))
    return cells


# Learning rate, batch size, epochs and seeds on the bundled data sets. Regression sets are small
# and overfit within 100 epochs, where one seed's R² varies by 0.03 (diabetes, 331 training rows)
# to 0.3 (linnerud, 15): fewer epochs and more seeds keep the means' noise below the tolerance.
BUNDLED_TRAINING = {
    "classification": (1e-3, 32, 200, 3),
    "regression": (1e-3, 32, 60, 20),
    **{f"linnerud_{target}": (1e-3, 8, 60, 100) for target in ("weight", "waist", "pulse")},
}


@lru_cache(maxsize=None)
def _split(data: str, noise: float, features: tuple[str, ...], targets: str, seed: int) -> Split:
    if data in GENERATORS:
        train = generate(GeneratorSpec(kind=data, n_samples=PLAYGROUND_TRAIN, noise=noise, seed=seed, features=list(features)))
        test = generate(GeneratorSpec(kind=data, n_samples=PLAYGROUND_TEST, noise=noise, seed=TEST_SEED, features=list(features)))
        task = train.task
        train_x, train_y, test_x, test_y = train.features, train.targets, test.features, test.targets
    else:
        loader, task, column = BUNDLED[data]
        all_x, all_y = loader(return_X_y=True)
        if column is not None:
            all_y = all_y[:, column]
        train_x, test_x, train_y, test_y = train_test_split(
            all_x, all_y, test_size=0.25, random_state=0, stratify=all_y if task == "classification" else None)
    if task == "regression" and targets == "scaled":
        mean, std = train_y.mean(), train_y.std()
        train_y, test_y = (train_y - mean) / std, (test_y - mean) / std
    return Split(task, train_x, train_y, test_x, test_y)


def score(split: Split, predictions: np.ndarray) -> float:
    if split.task == "classification":
        return float(accuracy_score(split.test_targets, predictions))
    return float(r2_score(split.test_targets, predictions))


def axon_spec(cell: Cell, seed: int, own_init: bool = False) -> NetworkSpec:
    """The cell as an Axon spec, every field the comparison depends on spelled out: as scikit-learn
    is configured, or (``own_init``) as a user would run it, shuffled and scaling its targets."""
    return NetworkSpec.model_validate({
        "layers": [{"units": units, "activation": cell.activation} for units in cell.hidden],
        "init": "glorot_uniform",
        "optimizer": {"name": "adam", "learning_rate": cell.learning_rate},
        "batch_size": cell.batch_size, "epochs": cell.epochs, "seed": seed, "shuffle": own_init,
        "validation_split": 0.0, "early_stopping": None, "l2": 0.0,
        "standardize": True, "standardize_targets": own_init, "dtype": "float64", "device": "cpu",
    })


def axon_score(cell: Cell, seed: int, own_init: bool = False) -> float:
    """Held-out score of Axon for ``seed``: trained as scikit-learn is (its start, its row order),
    or as a user would run it (its own draw, shuffled, targets scaled)."""
    split = cell.split(seed)
    spec = axon_spec(cell, seed, own_init)
    start_from = None
    if not own_init:
        data, backend = start(spec, split.train_features, split.train_targets, split.task)
        state = TrainingState.fresh(data, backend)
        state.network.set_parameters(*sklearn_initial_parameters(cell, state.network.layer_sizes, seed))
        start_from = save_checkpoint(state)  # Epoch 0: fit resumes from these weights.
    model = fit(spec, split.train_features, split.train_targets, task=split.task, resume_from=start_from).model
    return score(split, model.predict(split.test_features).predictions)


def sklearn_initial_parameters(cell: Cell, layer_sizes: list[int], seed: int):
    """scikit-learn's starting (weights, biases) for ``random_state=seed``.

    ``_init_coef`` layer by layer from ``check_random_state(seed)``, its first use of the
    generator in ``fit``: U(±sqrt(factor / (fan_in + fan_out))) weights (fan_in, fan_out), then
    biases (fan_out,) from the same range; factor 2 for logistic networks, 6 otherwise.
    """
    generator = np.random.RandomState(seed)
    factor = 2.0 if cell.activation == "sigmoid" else 6.0
    weights, biases = [], []
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        weights.append(generator.uniform(-bound, bound, (fan_in, fan_out)))
        biases.append(generator.uniform(-bound, bound, fan_out))
    return weights, biases


def sklearn_model(cell: Cell, seed: int, task: str, **overrides):
    """scikit-learn's MLP configured as the cell says (``overrides`` for its own checks)."""
    estimator = MLPClassifier if task == "classification" else MLPRegressor
    parameters = dict(
        hidden_layer_sizes=cell.hidden, activation=SKLEARN_ACTIVATION[cell.activation], solver="adam",
        alpha=0.0, batch_size=cell.batch_size, learning_rate_init=cell.learning_rate, max_iter=cell.epochs,
        shuffle=False, random_state=seed, early_stopping=False,  # The rows in order, as Axon takes them.
        tol=0.0, n_iter_no_change=cell.epochs + 1,  # Never stops before max_iter.
    )
    parameters.update(overrides)
    return estimator(**parameters)


def fit_quietly(model, features: np.ndarray, targets: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # Reaching max_iter is the plan.
        return model.fit(features, targets)


def sklearn_score(cell: Cell, seed: int) -> float:
    split = cell.split(seed)
    train_features, test_features = split.standardised()
    model = fit_quietly(sklearn_model(cell, seed, split.task), train_features, split.train_targets)
    return score(split, model.predict(test_features))


def mean_scores(run, cell: Cell, **options) -> list[float]:
    """``run``'s score for each of the cell's seeds."""
    return [run(cell, seed, **options) for seed in range(cell.seeds)]
