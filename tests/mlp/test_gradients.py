"""The maths of the forward and backward passes, against finite differences and plain formulas.

The objective checked is what one training step minimises: the mean batch loss plus the L1/L2
penalty, as :func:`mlp.training.train_epoch` assembles it from ``forward``, ``value_and_delta``,
``backward`` and ``add_penalty_gradient``. Everything here runs in float64.
"""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from mlp.activations import ACTIVATIONS, DERIVATIVES, ELU_ALPHA, LEAKY_RELU_SLOPE, NEEDS_PREACTIVATION
from mlp.losses import HUBER_DELTA, LOSSES
from mlp.network import Network
from mlp.spec import NetworkSpec
from mlp.state import TrainingState, start
from mlp.training import add_penalty_gradient, penalty, train_epoch

N_FEATURES, HIDDEN, N_SAMPLES = 3, (5, 4), 7
FD_STEP = 1e-6
KINK_MARGIN = 1e-4  # No pre-activation, weight (L1) or residual this close to a kink.
OUTPUTS_OF_LOSS = {"cross_entropy": 3, "binary_cross_entropy": 1, "mse": 2, "mae": 2, "huber": 2}


# --- helpers ----------------------------------------------------------------------------------

def make_network(activation, n_outputs, dropout=(0.0, 0.0)):
    return Network([N_FEATURES, *HIDDEN, n_outputs], [activation, activation], list(dropout), "float64")


def fill_params(network, rng):
    """Draw every weight away from 0 (L1's kink) and every bias freely."""
    magnitudes = rng.uniform(0.1, 0.8, network.n_weights)
    network.weights_flat[...] = magnitudes * rng.choice([-1.0, 1.0], network.n_weights)
    network.params[network.n_weights:] = rng.normal(0.0, 0.3, network.params.size - network.n_weights)


def preactivations(network, inputs):
    """Each hidden layer's z, by plain NumPy (no dropout), to keep finite differences off kinks."""
    found, layer_input = [], inputs
    for weights, biases, activation in zip(network.weights[:-1], network.biases[:-1], network.activations):
        z = layer_input @ weights + biases
        found.append(z)
        layer_input = ACTIVATIONS[activation](z.copy())
    return found


def targets_for(loss_name, raw_outputs, rng):
    """Targets of the loss's encoding; regression residuals kept clear of MAE's and Huber's kinks."""
    n_samples, n_outputs = raw_outputs.shape
    if loss_name == "cross_entropy":
        return np.eye(n_outputs)[rng.integers(0, n_outputs, n_samples)]
    if loss_name == "binary_cross_entropy":
        return rng.integers(0, 2, (n_samples, 1)).astype(np.float64)
    # Residuals z - y on both sides of 0 and of the Huber threshold, at least 0.2 from each kink.
    magnitudes = rng.choice([0.3, 0.6, 1.4, 2.2], (n_samples, n_outputs)) * HUBER_DELTA
    return raw_outputs - magnitudes * rng.choice([-1.0, 1.0], (n_samples, n_outputs))


def penalty_state(network, l1, l2):
    return SimpleNamespace(spec=SimpleNamespace(l1=l1, l2=l2), network=network,
                           penalty_scratch=np.zeros_like(network.weights_flat))


def objective(network, loss_name, inputs, targets, state, dropout_seed=None):
    """Mean batch loss plus penalty at the current parameters (fresh dropout rng from the seed)."""
    rng = None if dropout_seed is None else np.random.default_rng(dropout_seed)
    raw = network.forward(inputs, rng).copy()
    loss_sum = LOSSES[loss_name].value_and_delta(raw, targets, np.empty_like(raw)).loss_sum
    return loss_sum / inputs.shape[0] + penalty(state)


def analytic_gradient(network, loss_name, inputs, targets, state, dropout_seed=None):
    rng = None if dropout_seed is None else np.random.default_rng(dropout_seed)
    raw = network.forward(inputs, rng)
    delta = np.empty_like(raw)
    LOSSES[loss_name].value_and_delta(raw, targets, delta)
    network.backward(delta, dropout_seed is not None)
    add_penalty_gradient(state)
    return network.grads.copy()


def numerical_gradient(network, loss_name, inputs, targets, state, dropout_seed=None):
    """Central differences of :func:`objective` over every entry of ``network.params``."""
    params = network.params
    gradient = np.empty_like(params)
    for index in range(params.size):
        original = params[index]
        params[index] = original + FD_STEP
        above = objective(network, loss_name, inputs, targets, state, dropout_seed)
        params[index] = original - FD_STEP
        below = objective(network, loss_name, inputs, targets, state, dropout_seed)
        params[index] = original
        gradient[index] = (above - below) / (2 * FD_STEP)
    return gradient


def assert_gradients_match(analytic, numerical):
    assert np.linalg.norm(analytic) > 1e-3  # A vanishing gradient would match anything.
    relative_error = np.linalg.norm(analytic - numerical) / np.linalg.norm(analytic + numerical)
    assert relative_error < 1e-7, relative_error
    np.testing.assert_allclose(analytic, numerical, rtol=1e-5, atol=1e-8)


def problem(activation, loss_name, first_seed=0, dropout=(0.0, 0.0)):
    """A network, batch and targets whose pre-activations all lie clear of 0 (the ReLU kink)."""
    for seed in range(first_seed, first_seed + 50):
        rng = np.random.default_rng(seed)
        network = make_network(activation, OUTPUTS_OF_LOSS[loss_name], dropout)
        fill_params(network, rng)
        inputs = rng.normal(0.0, 1.0, (N_SAMPLES, N_FEATURES))
        if all(np.abs(z).min() > KINK_MARGIN for z in preactivations(network, inputs)):
            targets = targets_for(loss_name, network.forward(inputs).copy(), rng)
            return network, inputs, targets
    raise AssertionError("no seed kept the pre-activations off the kink")


# --- finite differences -----------------------------------------------------------------------

@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_hidden_activation_gradients_match_finite_differences(activation):
    network, inputs, targets = problem(activation, "mse")
    state = penalty_state(network, l1=0.01, l2=0.03)
    analytic = analytic_gradient(network, "mse", inputs, targets, state)
    numerical = numerical_gradient(network, "mse", inputs, targets, state)
    assert_gradients_match(analytic, numerical)


@pytest.mark.parametrize("loss_name", list(LOSSES))
def test_output_loss_gradients_match_finite_differences(loss_name):
    network, inputs, targets = problem("tanh", loss_name, first_seed=10)
    state = penalty_state(network, l1=0.01, l2=0.03)
    analytic = analytic_gradient(network, loss_name, inputs, targets, state)
    numerical = numerical_gradient(network, loss_name, inputs, targets, state)
    assert_gradients_match(analytic, numerical)


def test_table_of_outputs_covers_every_loss():
    assert set(OUTPUTS_OF_LOSS) == set(LOSSES)


@pytest.mark.parametrize("l1, l2", [(0.05, 0.0), (0.0, 0.2)])
def test_penalty_gradient_touches_weights_only(l1, l2):
    network = make_network("tanh", 2)
    fill_params(network, np.random.default_rng(5))
    state = penalty_state(network, l1, l2)
    network.grads.fill(0.0)
    add_penalty_gradient(state)
    weights = network.weights_flat
    np.testing.assert_allclose(network.grad_weights_flat, l1 * np.sign(weights) + l2 * weights, rtol=1e-15)
    assert not network.grads[network.n_weights:].any()
    assert penalty(state) == pytest.approx(l1 * np.abs(weights).sum() + 0.5 * l2 * (weights**2).sum(), rel=1e-14)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_gradient_with_fixed_dropout_masks_matches_finite_differences(activation):
    network, inputs, targets = problem(activation, "cross_entropy", first_seed=20, dropout=(0.5, 0.3))
    state = penalty_state(network, l1=0.01, l2=0.03)
    dropout_seed = 1234
    dropped = network.forward(inputs, np.random.default_rng(dropout_seed)).copy()
    assert not np.allclose(dropped, network.forward(inputs))  # The masks really changed something.
    analytic = analytic_gradient(network, "cross_entropy", inputs, targets, state, dropout_seed)
    numerical = numerical_gradient(network, "cross_entropy", inputs, targets, state, dropout_seed)
    assert_gradients_match(analytic, numerical)


# --- activations against plain formulas -------------------------------------------------------

def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


REFERENCE_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "gelu": _gelu_tanh,
    "tanh": lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softplus": lambda x: np.log(1 + np.exp(x)),
}
MODERATE_INPUTS = np.concatenate([np.linspace(-6, 6, 97), [-1e-3, -1e-9, 0.0, 1e-9, 1e-3]])


def test_reference_table_covers_every_activation():
    assert set(REFERENCE_ACTIVATIONS) == set(ACTIVATIONS) == set(DERIVATIVES)
    assert LEAKY_RELU_SLOPE == 0.01 and ELU_ALPHA == 1.0  # The references above hard-code these.


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_activation_matches_plain_formula_in_place(activation):
    z = MODERATE_INPUTS.copy()
    returned = ACTIVATIONS[activation](z)
    # The network ignores the return value, so the output must land in z itself.
    assert np.shares_memory(returned, z)
    np.testing.assert_allclose(z, REFERENCE_ACTIVATIONS[activation](MODERATE_INPUTS), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_activation_is_finite_at_extreme_inputs(activation):
    z = np.array([-1000.0, -50.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ACTIVATIONS[activation](z)
    assert np.isfinite(z).all()


def test_saturating_activations_at_extreme_inputs():
    extreme = np.array([-1000.0, 1000.0])
    assert ACTIVATIONS["sigmoid"](extreme.copy()).tolist() == [0.0, 1.0]
    assert ACTIVATIONS["tanh"](extreme.copy()).tolist() == [-1.0, 1.0]
    assert ACTIVATIONS["softplus"](extreme.copy()).tolist() == [0.0, 1000.0]
    assert ACTIVATIONS["elu"](extreme.copy()).tolist() == [-1.0, 1000.0]
    np.testing.assert_allclose(ACTIVATIONS["softplus"](np.array([-40.0])), [math.exp(-40.0)], rtol=1e-12)


def test_gelu_is_within_its_stated_distance_of_the_exact_form():
    x = np.linspace(-6, 6, 241)
    exact = np.array([0.5 * value * (1 + math.erf(value / math.sqrt(2))) for value in x])
    assert np.abs(ACTIVATIONS["gelu"](x.copy()) - exact).max() < 1e-3


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_derivative_matches_finite_differences_of_the_activation(activation):
    z = MODERATE_INPUTS[np.abs(MODERATE_INPUTS) > KINK_MARGIN]
    above = ACTIVATIONS[activation](z + FD_STEP)
    below = ACTIVATIONS[activation](z - FD_STEP)
    numerical = (above - below) / (2 * FD_STEP)
    output = ACTIVATIONS[activation](z.copy())
    delta = np.full_like(z, 3.0)
    # Only the activations that declare it get the pre-activation, as in the network.
    saved = z.copy() if activation in NEEDS_PREACTIVATION else None
    DERIVATIVES[activation](saved, output, delta, np.full_like(z, np.nan))  # Scratch: any contents.
    np.testing.assert_allclose(delta, 3.0 * numerical, rtol=1e-6, atol=1e-9)


# --- losses against plain formulas -------------------------------------------------------------

def run_loss(loss_name, raw, targets):
    delta = np.empty_like(raw)
    stats = LOSSES[loss_name].value_and_delta(raw.copy(), targets, delta)
    return stats, delta


def test_cross_entropy_is_minus_log_softmax():
    rng = np.random.default_rng(1)
    raw = rng.normal(0, 2, (6, 3))
    labels = np.array([0, 1, 2, 2, 1, 0])
    targets = np.eye(3)[labels]
    (loss_sum, correct), delta = run_loss("cross_entropy", raw, targets)
    probabilities = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    assert loss_sum == pytest.approx(-np.log(probabilities[np.arange(6), labels]).sum(), rel=1e-12)
    assert correct == np.count_nonzero(raw.argmax(axis=1) == labels)
    np.testing.assert_allclose(delta, (probabilities - targets) / 6, rtol=1e-12, atol=1e-15)


def test_binary_cross_entropy_matches_the_probability_form():
    raw = np.array([[-3.0], [-0.4], [0.2], [2.5], [0.7]])
    targets = np.array([[0.0], [1.0], [1.0], [0.0], [1.0]])
    (loss_sum, correct), delta = run_loss("binary_cross_entropy", raw, targets)
    p = 1 / (1 + np.exp(-raw))
    expected = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).sum()
    assert loss_sum == pytest.approx(expected, rel=1e-12)
    assert correct == 3  # -3 -> 0 right, -0.4 -> 0 wrong, 0.2 right, 2.5 wrong, 0.7 right.
    np.testing.assert_allclose(delta, (p - targets) / 5, rtol=1e-12)


def test_regression_losses_match_plain_formulas():
    raw = np.array([[0.5, -2.0], [3.0, 1.0], [0.1, 0.0]])
    targets = np.array([[0.0, 0.5], [1.0, 1.2], [-0.6, 2.5]])
    residual = raw - targets  # [[0.5, -2.5], [2.0, -0.2], [0.7, -2.5]]
    n_samples, n_outputs = raw.shape
    huber = np.where(np.abs(residual) <= 1.0, 0.5 * residual**2, np.abs(residual) - 0.5)

    (mse, abs_sums, squares), delta = run_loss("mse", raw, targets)
    assert mse == pytest.approx((residual**2).mean(axis=1).sum(), rel=1e-14)
    np.testing.assert_allclose(abs_sums, np.abs(residual).sum(axis=0), rtol=1e-14)  # Per output.
    np.testing.assert_allclose(squares, (residual**2).sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(delta, 2 * residual / (n_samples * n_outputs), rtol=1e-14)

    (mae, _, _), delta = run_loss("mae", raw, targets)
    assert mae == pytest.approx(np.abs(residual).mean(axis=1).sum(), rel=1e-14)
    np.testing.assert_allclose(delta, np.sign(residual) / (n_samples * n_outputs), rtol=1e-14)

    (huber_sum, _, _), delta = run_loss("huber", raw, targets)
    assert huber_sum == pytest.approx(huber.mean(axis=1).sum(), rel=1e-14)
    np.testing.assert_allclose(delta, np.clip(residual, -1, 1) / (n_samples * n_outputs), rtol=1e-14)


def test_extreme_logits_give_finite_loss_and_delta():
    raw = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]])
    targets = np.eye(3)[[0, 0]]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        (loss_sum, correct), delta = run_loss("cross_entropy", raw, targets)
    assert loss_sum == pytest.approx(2000.0, rel=1e-12)  # 0 for the right row, 2000 for the wrong.
    assert correct == 1
    np.testing.assert_allclose(delta, [[0, 0, 0], [-0.5, 0.5, 0]], atol=1e-15)

    raw = np.array([[1000.0], [-1000.0], [1000.0], [-1000.0]])
    targets = np.array([[1.0], [0.0], [0.0], [1.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        (loss_sum, correct), delta = run_loss("binary_cross_entropy", raw, targets)
    assert loss_sum == pytest.approx(2000.0, rel=1e-12)
    assert correct == 2
    np.testing.assert_allclose(delta, [[0], [0], [0.25], [-0.25]], atol=1e-15)


def test_cross_entropy_accuracy_agrees_with_argmax_on_tied_logits():
    raw = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, -2.0], [2.0, 2.0, 0.0]])
    labels = np.array([2, 1, 0])  # argmax picks class 0 in every row: only the last is right.
    (_, correct), _ = run_loss("cross_entropy", raw, np.eye(3)[labels])
    assert correct == np.count_nonzero(raw.argmax(axis=1) == labels) == 1


def test_huber_value_follows_its_threshold(monkeypatch):
    monkeypatch.setattr("mlp.losses.HUBER_DELTA", 2.0)
    residual = np.array([[0.5], [-1.5], [3.0], [-4.0]])
    (huber_sum, _, _), delta = run_loss("huber", residual, np.zeros_like(residual))
    np.testing.assert_allclose(delta, np.clip(residual, -2, 2) / 4, rtol=1e-14)
    # PyTorch's HuberLoss(delta=2): 0.5 r^2 inside, 2 (|r| - 1) outside.
    assert huber_sum == pytest.approx(0.125 + 1.125 + 4.0 + 6.0, rel=1e-14)


@pytest.mark.parametrize("loss_name", list(LOSSES))
def test_link_turns_raw_outputs_into_predictions_in_place(loss_name):
    raw = np.array([[0.3, -1.2, 2.0], [0.0, 0.5, -0.5]])[:, : OUTPUTS_OF_LOSS[loss_name]]
    expected = {
        "cross_entropy": np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True),
        "binary_cross_entropy": 1 / (1 + np.exp(-raw)),
    }.get(loss_name, raw)
    predictions = raw.copy()
    LOSSES[loss_name].link(predictions)
    np.testing.assert_allclose(predictions, expected, rtol=1e-12)


# --- one hand-worked SGD step -------------------------------------------------------------------

def test_one_sgd_step_on_a_tiny_network_matches_the_hand_computation():
    features = [[0.5, -1.0], [1.5, 0.25]]
    targets = [0.3, -0.7]
    w1 = [[0.1, -0.2], [0.4, 0.3]]  # w1[i][j]: input i -> hidden unit j.
    b1 = [0.05, -0.1]
    w2 = [0.7, -0.5]  # hidden unit j -> the single output.
    b2 = 0.2
    learning_rate, n_samples = 0.1, 2

    # Forward: h = tanh(x w1 + b1), out = h w2 + b2.
    hidden = [[math.tanh(x[0] * w1[0][j] + x[1] * w1[1][j] + b1[j]) for j in range(2)] for x in features]
    outputs = [h[0] * w2[0] + h[1] * w2[1] + b2 for h in hidden]
    # Loss: mean over the batch of (out - y)^2, so d loss / d out = 2 (out - y) / n.
    residuals = [out - y for out, y in zip(outputs, targets)]
    d_out = [2 * r / n_samples for r in residuals]
    # Output layer gradients.
    g_w2 = [sum(d_out[s] * hidden[s][j] for s in range(2)) for j in range(2)]
    g_b2 = sum(d_out)
    # Back through tanh: d z_j = d out * w2_j * (1 - h_j^2).
    d_hidden = [[d_out[s] * w2[j] * (1 - hidden[s][j] ** 2) for j in range(2)] for s in range(2)]
    g_w1 = [[sum(features[s][i] * d_hidden[s][j] for s in range(2)) for j in range(2)] for i in range(2)]
    g_b1 = [sum(d_hidden[s][j] for s in range(2)) for j in range(2)]
    # SGD: p - lr g.
    new_w1 = [[w1[i][j] - learning_rate * g_w1[i][j] for j in range(2)] for i in range(2)]
    new_b1 = [b1[j] - learning_rate * g_b1[j] for j in range(2)]
    new_w2 = [w2[j] - learning_rate * g_w2[j] for j in range(2)]
    new_b2 = b2 - learning_rate * g_b2

    spec = NetworkSpec.model_validate({
        "layers": [{"units": 2, "activation": "tanh"}],
        "optimizer": {"name": "sgd", "learning_rate": learning_rate},
        "epochs": 1, "batch_size": n_samples, "shuffle": False, "validation_split": 0,
        "standardize": False, "standardize_targets": False, "dtype": "float64", "device": "cpu",
    })
    data, backend = start(spec, np.array(features), np.array(targets), task="regression")
    state = TrainingState.fresh(data, backend)
    network = state.network
    network.weights[0][...] = w1
    network.biases[0][...] = b1
    network.weights[1][...] = np.array(w2).reshape(2, 1)
    network.biases[1][...] = [b2]

    loss_sum, abs_sums, _ = train_epoch(state, 0, learning_rate)

    assert loss_sum == pytest.approx(sum(r * r for r in residuals), rel=1e-14)
    assert abs_sums == pytest.approx([sum(abs(r) for r in residuals)], rel=1e-14)
    np.testing.assert_allclose(network.weights[0], new_w1, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(network.biases[0], new_b1, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(network.weights[1].ravel(), new_w2, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(network.biases[1], [new_b2], rtol=1e-14, atol=1e-15)
    assert abs(new_w1[0][0] - w1[0][0]) > 1e-4  # The step moved the weights measurably.
