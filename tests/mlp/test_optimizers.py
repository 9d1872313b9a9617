"""Optimizers against PyTorch's documented update rules, written out again here, step by step.

Each reference below follows the pseudo-code of the ``torch.optim`` class of the same name
(https://pytorch.org/docs/stable/optim.html), on plain arrays and without in-place tricks. Three
steps with different gradients and learning rates exercise the state (momentum buffers, moving
averages, bias corrections, step counters) and show that the learning rate passed to ``update``
(the schedule's) is the one used.
"""

import math

import numpy as np
import pytest

from mlp import spec as specs
from mlp.optimizers import OPTIMIZERS, clip_by_global_norm, make_optimizer

INITIAL_PARAMS = [np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.7]]), np.array([1.5, -0.25])]
GRADIENTS = [  # Shrinking in magnitude from step to step, so AMSGrad's running maximum matters.
    [np.array([[0.9, -0.4, 0.1], [2.0, -1.5, 0.05]]), np.array([-0.8, 0.3])],
    [np.array([[0.2, -0.1, 0.3], [-0.5, 0.4, -0.02]]), np.array([0.1, -0.2])],
    [np.array([[-0.1, 0.05, 0.2], [0.3, -0.2, 0.01]]), np.array([0.05, 0.1])],
]
LEARNING_RATES = [0.1, 0.05, 0.02]


# --- references, one per torch.optim algorithm ------------------------------------------------

def sgd_reference(spec, params, gradients, learning_rates):
    """torch.optim.SGD: g += wd p; b = g (t = 1) or mu b + (1 - tau) g; g = g + mu b (Nesterov) or b."""
    momentum = getattr(spec, "momentum", 0.0)
    dampening = getattr(spec, "dampening", 0.0)
    nesterov = spec.name == "nesterov"
    buffers = None
    for step_gradients, lr in zip(gradients, learning_rates):
        new_params, new_buffers = [], []
        for index, (p, g) in enumerate(zip(params, step_gradients)):
            g = g + spec.weight_decay * p
            if momentum:
                b = g if buffers is None else momentum * buffers[index] + (1 - dampening) * g
                new_buffers.append(b)
                g = g + momentum * b if nesterov else b
            new_params.append(p - lr * g)
        params, buffers = new_params, new_buffers
        yield params


def adam_reference(spec, params, gradients, learning_rates):
    """torch.optim.Adam / AdamW, with AMSGrad's maximum taken over the uncorrected v."""
    beta1, beta2 = spec.betas
    decoupled = spec.name == "adamw"
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    v_max = [np.zeros_like(p) for p in params]
    for t, (step_gradients, lr) in enumerate(zip(gradients, learning_rates), start=1):
        new_params = []
        for index, (p, g) in enumerate(zip(params, step_gradients)):
            if decoupled:
                p = p - lr * spec.weight_decay * p
            else:
                g = g + spec.weight_decay * p
            m[index] = beta1 * m[index] + (1 - beta1) * g
            v[index] = beta2 * v[index] + (1 - beta2) * g**2
            m_hat = m[index] / (1 - beta1**t)
            if spec.amsgrad:
                v_max[index] = np.maximum(v_max[index], v[index])
                v_hat = v_max[index] / (1 - beta2**t)
            else:
                v_hat = v[index] / (1 - beta2**t)
            new_params.append(p - lr * m_hat / (np.sqrt(v_hat) + spec.eps))
        params = new_params
        yield params


def rmsprop_reference(spec, params, gradients, learning_rates):
    """torch.optim.RMSprop: v = a v + (1 - a) g^2; centred v - g_ave^2; buffer b = mu b + g / (sqrt + eps)."""
    alpha = spec.alpha
    v = [np.zeros_like(p) for p in params]
    g_ave = [np.zeros_like(p) for p in params]
    b = [np.zeros_like(p) for p in params]
    for step_gradients, lr in zip(gradients, learning_rates):
        new_params = []
        for index, (p, g) in enumerate(zip(params, step_gradients)):
            g = g + spec.weight_decay * p
            v[index] = alpha * v[index] + (1 - alpha) * g**2
            v_tilde = v[index]
            if spec.centered:
                g_ave[index] = alpha * g_ave[index] + (1 - alpha) * g
                v_tilde = v_tilde - g_ave[index] ** 2
            if spec.momentum > 0:
                b[index] = spec.momentum * b[index] + g / (np.sqrt(v_tilde) + spec.eps)
                new_params.append(p - lr * b[index])
            else:
                new_params.append(p - lr * g / (np.sqrt(v_tilde) + spec.eps))
        params = new_params
        yield params


def adagrad_reference(spec, params, gradients, learning_rates):
    """torch.optim.Adagrad: lr_t = lr / (1 + (t - 1) decay); sum += g^2; p -= lr_t g / (sqrt(sum) + eps)."""
    sums = [np.full_like(p, spec.initial_accumulator_value) for p in params]
    for t, (step_gradients, lr) in enumerate(zip(gradients, learning_rates), start=1):
        decayed_lr = lr / (1 + (t - 1) * spec.lr_decay)
        new_params = []
        for index, (p, g) in enumerate(zip(params, step_gradients)):
            g = g + spec.weight_decay * p
            sums[index] = sums[index] + g**2
            new_params.append(p - decayed_lr * g / (np.sqrt(sums[index]) + spec.eps))
        params = new_params
        yield params


REFERENCE_OF = {
    "sgd": sgd_reference, "momentum": sgd_reference, "nesterov": sgd_reference,
    "adam": adam_reference, "adamw": adam_reference,
    "rmsprop": rmsprop_reference, "adagrad": adagrad_reference,
}

CASES = {
    "sgd": specs.SGD(learning_rate=0.1),
    "sgd weight decay": specs.SGD(learning_rate=0.1, weight_decay=0.1),
    "momentum": specs.Momentum(learning_rate=0.1, momentum=0.9),
    "momentum dampening": specs.Momentum(learning_rate=0.1, momentum=0.8, dampening=0.5),
    "momentum weight decay": specs.Momentum(learning_rate=0.1, momentum=0.9, weight_decay=0.1),
    "nesterov": specs.Nesterov(learning_rate=0.1, momentum=0.9),
    "nesterov weight decay": specs.Nesterov(learning_rate=0.1, momentum=0.7, weight_decay=0.1),
    "adam": specs.Adam(learning_rate=0.1),
    "adam betas eps": specs.Adam(learning_rate=0.1, betas=(0.5, 0.8), eps=1e-2),
    "adam weight decay": specs.Adam(learning_rate=0.1, weight_decay=0.1),
    "adam amsgrad": specs.Adam(learning_rate=0.1, betas=(0.5, 0.8), amsgrad=True),
    "adamw": specs.AdamW(learning_rate=0.1, weight_decay=0.1),
    "adamw amsgrad": specs.AdamW(learning_rate=0.1, weight_decay=0.1, betas=(0.5, 0.8), amsgrad=True),
    "rmsprop": specs.RMSprop(learning_rate=0.01),
    "rmsprop centered": specs.RMSprop(learning_rate=0.01, alpha=0.9, centered=True),
    "rmsprop momentum": specs.RMSprop(learning_rate=0.01, momentum=0.9),
    "rmsprop centered momentum": specs.RMSprop(learning_rate=0.01, alpha=0.9, centered=True, momentum=0.5),
    "rmsprop weight decay": specs.RMSprop(learning_rate=0.01, weight_decay=0.1),
    "adagrad": specs.Adagrad(learning_rate=0.1),
    "adagrad decay and initial": specs.Adagrad(learning_rate=0.1, lr_decay=0.5, initial_accumulator_value=0.3),
    "adagrad weight decay": specs.Adagrad(learning_rate=0.1, weight_decay=0.1, eps=1e-3),
}


def run_steps(spec):
    """Yield the parameters after each of the three steps of ``make_optimizer(spec, ...)``."""
    params = [p.copy() for p in INITIAL_PARAMS]
    optimizer = make_optimizer(spec, params)
    for step_gradients, lr in zip(GRADIENTS, LEARNING_RATES):
        optimizer.update(params, [g.copy() for g in step_gradients], lr)
        yield [p.copy() for p in params]
    assert optimizer.step == 3


def test_cases_cover_every_optimizer():
    assert {spec.name for spec in CASES.values()} == set(OPTIMIZERS) == set(REFERENCE_OF)


@pytest.mark.parametrize("spec", CASES.values(), ids=CASES.keys())
def test_optimizer_follows_its_closed_form_for_three_steps(spec):
    reference = REFERENCE_OF[spec.name](spec, INITIAL_PARAMS, GRADIENTS, LEARNING_RATES)
    for step, (got, expected) in enumerate(zip(run_steps(spec), reference), start=1):
        for got_array, expected_array, initial in zip(got, expected, INITIAL_PARAMS):
            np.testing.assert_allclose(got_array, expected_array, rtol=1e-12, atol=1e-15,
                                       err_msg=f"step {step}")
            assert not np.array_equal(got_array, initial)  # Every step moved every array.


EXPECTED_SLOTS = {
    "sgd": set(), "momentum": {"momentum_buffer"}, "nesterov": {"momentum_buffer"},
    "adam": {"exp_avg", "exp_avg_sq"}, "adam amsgrad": {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    "rmsprop": {"square_avg"}, "rmsprop centered": {"square_avg", "grad_avg"},
    "rmsprop momentum": {"square_avg", "momentum_buffer"},
    "rmsprop centered momentum": {"square_avg", "grad_avg", "momentum_buffer"}, "adagrad": {"sum"},
}


@pytest.mark.parametrize("name", EXPECTED_SLOTS)
def test_an_optimizer_keeps_only_the_slots_its_options_use(name):
    params = [p.copy() for p in INITIAL_PARAMS]
    optimizer = make_optimizer(CASES[name], params)
    assert set(optimizer.state) == EXPECTED_SLOTS[name]
    for step_gradients, lr in zip(GRADIENTS, LEARNING_RATES):
        optimizer.update(params, [g.copy() for g in step_gradients], lr)
    for slot, per_param in optimizer.state.items():  # Each one kept is used: none is still all zeros.
        assert all(np.any(array != 0) for array in per_param), slot


def test_momentum_zero_keeps_no_buffer():
    assert make_optimizer(specs.Momentum(momentum=0.0), [np.ones(3)]).state == {}


def test_adam_first_step_is_lr_times_sign():
    """A textbook fact needing no reference: with tiny eps, Adam's first step is lr * sign(g)."""
    params = [np.array([1.0, -2.0, 3.0])]
    optimizer = make_optimizer(specs.Adam(learning_rate=0.01, eps=1e-12), params)
    optimizer.update(params, [np.array([5.0, -0.001, 0.3])], 0.01)
    np.testing.assert_allclose(params[0], [0.99, -1.99, 2.99], rtol=1e-9)


def test_adagrad_initial_accumulator_slows_the_first_step():
    """One step from sum = s0 moves p by lr g / sqrt(s0 + g^2): here 0.1 * 3 / sqrt(16 + 9)."""
    params = [np.array([0.0])]
    optimizer = make_optimizer(specs.Adagrad(learning_rate=0.1, initial_accumulator_value=16.0, eps=1e-12), params)
    optimizer.update(params, [np.array([3.0])], 0.1)
    assert params[0][0] == pytest.approx(-0.06, rel=1e-9)


def test_adamw_decays_weights_even_with_zero_gradient():
    params = [np.array([2.0, -4.0])]
    optimizer = make_optimizer(specs.AdamW(learning_rate=0.1, weight_decay=0.5), params)
    optimizer.update(params, [np.zeros(2)], 0.1)
    np.testing.assert_allclose(params[0], [2.0 * 0.95, -4.0 * 0.95], rtol=1e-12)


def test_momentum_zero_is_plain_sgd_whatever_the_dampening():
    spec = specs.Momentum(learning_rate=0.1, momentum=0.0, dampening=0.5)
    reference = sgd_reference(spec, INITIAL_PARAMS, GRADIENTS, LEARNING_RATES)
    for got, expected in zip(run_steps(spec), reference):
        for got_array, expected_array in zip(got, expected):
            np.testing.assert_allclose(got_array, expected_array, rtol=1e-12, atol=1e-15)


# --- PyTorch itself, where installed ------------------------------------------------------------

def torch_optimizer(torch, spec, tensors):
    common = {"lr": spec.learning_rate, "weight_decay": spec.weight_decay}
    if spec.name == "sgd":
        return torch.optim.SGD(tensors, **common)
    if spec.name in ("momentum", "nesterov"):
        return torch.optim.SGD(tensors, momentum=spec.momentum, dampening=getattr(spec, "dampening", 0.0),
                               nesterov=spec.name == "nesterov", **common)
    if spec.name in ("adam", "adamw"):
        cls = torch.optim.AdamW if spec.name == "adamw" else torch.optim.Adam
        return cls(tensors, betas=spec.betas, eps=spec.eps, amsgrad=spec.amsgrad, **common)
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(tensors, alpha=spec.alpha, eps=spec.eps, momentum=spec.momentum,
                                   centered=spec.centered, **common)
    return torch.optim.Adagrad(tensors, lr_decay=spec.lr_decay, eps=spec.eps,
                               initial_accumulator_value=spec.initial_accumulator_value, **common)


@pytest.mark.parametrize("spec", CASES.values(), ids=CASES.keys())
def test_optimizer_matches_torch_optim(spec):
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in INITIAL_PARAMS]
    optimizer = torch_optimizer(torch, spec, tensors)
    for got, step_gradients, lr in zip(run_steps(spec), GRADIENTS, LEARNING_RATES):
        for group in optimizer.param_groups:
            group["lr"] = lr
        for tensor, gradient in zip(tensors, step_gradients):
            tensor.grad = torch.tensor(gradient, dtype=torch.float64)
        optimizer.step()
        for got_array, tensor in zip(got, tensors):
            np.testing.assert_allclose(got_array, tensor.detach().numpy(), rtol=1e-10, atol=1e-13)


# --- clipping ------------------------------------------------------------------------------------

def test_clip_by_global_norm_scales_the_joint_norm_to_the_clip():
    grads = [np.array([3.0, 0.0]), np.array([[0.0], [4.0]])]  # Joint norm 5; each alone is below 5.
    clip_by_global_norm(grads, 1.0)
    joint_norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    assert joint_norm == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(grads[0], [0.6, 0.0], rtol=1e-6)  # Direction kept: (3, 4) / 5.
    np.testing.assert_allclose(grads[1], [[0.0], [0.8]], rtol=1e-6)


def test_clip_by_global_norm_leaves_small_gradients_untouched():
    grads = [np.array([3.0, 0.0]), np.array([[0.0], [4.0]])]
    clip_by_global_norm(grads, 10.0)
    assert grads[0].tolist() == [3.0, 0.0]
    assert grads[1].tolist() == [[0.0], [4.0]]
