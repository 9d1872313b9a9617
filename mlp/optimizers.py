"""Gradient-descent optimizers over flat lists of parameters and gradients.

An optimizer knows nothing about layers: it gets arrays and their gradients, of matching shapes,
and updates the arrays in place. Each follows the update rule PyTorch documents for the
optimizer of the same name, with the same defaults (see :mod:`mlp.spec`). Per-parameter state
lives in ``state`` (one array per parameter per slot) plus the ``step`` counter, which is all a
checkpoint needs to resume an optimizer exactly. ``slots(spec)`` names only the slots the spec's
options use (AMSGrad's running maximum only with ``amsgrad``, a momentum buffer only with
momentum), so memory and checkpoints hold no array that stays zero.

Updates use a preallocated scratch array per parameter so the hot loop allocates nothing.
"""

from __future__ import annotations

import math

import numpy as np


class Optimizer:
    """Shared bookkeeping; subclasses define ``slots`` and ``_update``."""

    decoupled_weight_decay = False

    @staticmethod
    def slots(spec) -> tuple[str, ...]:
        """The per-parameter arrays this optimizer keeps under ``spec``'s options."""
        return ()

    def __init__(self, spec, params: list):
        self.spec = spec
        self.step = 0
        self.state = {slot: [np.zeros_like(p) for p in params] for slot in self.slots(spec)}
        self._scratch = [np.zeros_like(p) for p in params]
        initial = getattr(spec, "initial_accumulator_value", 0.0)
        for accumulator in self.state.get("sum", []):
            accumulator.fill(initial)

    def update(self, params: list, grads: list, learning_rate: float) -> None:
        """Apply one step; ``grads`` may be overwritten."""
        self.step += 1
        weight_decay = self.spec.weight_decay
        for index, (param, grad, scratch) in enumerate(zip(params, grads, self._scratch)):
            if weight_decay and not self.decoupled_weight_decay:
                np.multiply(param, weight_decay, out=scratch)
                grad += scratch
            self._update(index, param, grad, scratch, learning_rate)

    def _update(self, index: int, param, grad, scratch, learning_rate: float) -> None:
        raise NotImplementedError

    def _slot(self, name: str, index: int):
        return self.state[name][index]


class SGD(Optimizer):
    """``p -= lr g``."""

    def _update(self, index, param, grad, scratch, learning_rate):
        np.multiply(grad, learning_rate, out=scratch)
        param -= scratch


class Momentum(Optimizer):
    """``b = momentum b + (1 - dampening) g`` (``b = g`` on the first step); ``p -= lr b``.

    ``Nesterov`` reuses the buffer and steps along ``g + momentum b`` instead.
    """

    nesterov = False

    @staticmethod
    def slots(spec):
        # Without momentum the update is plain SGD and the buffer would never be read.
        return ("momentum_buffer",) if spec.momentum else ()

    def _update(self, index, param, grad, scratch, learning_rate):
        momentum = self.spec.momentum
        if momentum == 0:  # PyTorch keeps no buffer then, so dampening does not apply.
            np.multiply(grad, learning_rate, out=scratch)
            param -= scratch
            return
        buffer = self._slot("momentum_buffer", index)
        if self.step == 1:
            np.copyto(buffer, grad)
        else:
            buffer *= momentum
            np.multiply(grad, 1.0 - getattr(self.spec, "dampening", 0.0), out=scratch)
            buffer += scratch
        if self.nesterov:
            np.multiply(buffer, momentum, out=scratch)
            scratch += grad
        else:
            np.copyto(scratch, buffer)
        scratch *= learning_rate
        param -= scratch


class Nesterov(Momentum):
    """Nesterov momentum as PyTorch's SGD implements it."""

    nesterov = True


class Adam(Optimizer):
    """``m, v`` moving averages of ``g`` and ``g^2``; ``p -= lr m_hat / (sqrt(v_hat) + eps)``.

    The slots hold ``m / (1 - beta1)`` and ``v / (1 - beta2)``, which update as
    ``m' = beta1 m' + g`` and ``v' = beta2 v' + g^2`` (one array operation fewer each); those
    factors and the bias corrections ``1 - beta^t`` fold into two scalars, so a step is ten
    passes over the parameters. With ``amsgrad`` the denominator uses the running maximum of ``v``.
    """

    @staticmethod
    def slots(spec):
        return ("exp_avg", "exp_avg_sq", *(("max_exp_avg_sq",) if spec.amsgrad else ()))

    def _update(self, index, param, grad, scratch, learning_rate):
        beta1, beta2 = self.spec.betas
        exp_avg = self._slot("exp_avg", index)
        exp_avg_sq = self._slot("exp_avg_sq", index)
        if self.decoupled_weight_decay and self.spec.weight_decay:
            param *= 1.0 - learning_rate * self.spec.weight_decay
        exp_avg *= beta1
        exp_avg += grad
        exp_avg_sq *= beta2
        np.multiply(grad, grad, out=scratch)
        exp_avg_sq += scratch
        second = exp_avg_sq
        if self.spec.amsgrad:
            second = np.maximum(self._slot("max_exp_avg_sq", index), exp_avg_sq,
                                out=self._slot("max_exp_avg_sq", index))
        # sqrt(v_hat) = root_scale sqrt(v'), m_hat = (1 - beta1) m' / (1 - beta1^t).
        root_scale = math.sqrt((1.0 - beta2) / (1.0 - beta2**self.step))
        np.sqrt(second, out=scratch)
        scratch += self.spec.eps / root_scale
        np.divide(exp_avg, scratch, out=scratch)
        scratch *= learning_rate * (1.0 - beta1) / ((1.0 - beta1**self.step) * root_scale)
        param -= scratch


class AdamW(Adam):
    """Adam whose weight decay shrinks the weights directly: ``p *= 1 - lr wd``."""

    decoupled_weight_decay = True


class RMSprop(Optimizer):
    """``v = alpha v + (1 - alpha) g^2``; ``p -= lr g / (sqrt(v - centre^2) + eps)``, with momentum."""

    @staticmethod
    def slots(spec):
        return ("square_avg", *(("grad_avg",) if spec.centered else ()),
                *(("momentum_buffer",) if spec.momentum > 0 else ()))

    def _update(self, index, param, grad, scratch, learning_rate):
        alpha = self.spec.alpha
        square_avg = self._slot("square_avg", index)
        square_avg *= alpha
        np.multiply(grad, grad, out=scratch)
        scratch *= 1.0 - alpha
        square_avg += scratch
        if self.spec.centered:
            grad_avg = self._slot("grad_avg", index)
            grad_avg *= alpha
            grad_avg += (1.0 - alpha) * grad
            np.multiply(grad_avg, grad_avg, out=scratch)
            np.subtract(square_avg, scratch, out=scratch)
            np.sqrt(scratch, out=scratch)
        else:
            np.sqrt(square_avg, out=scratch)
        scratch += self.spec.eps
        np.divide(grad, scratch, out=scratch)
        if self.spec.momentum > 0:
            buffer = self._slot("momentum_buffer", index)
            buffer *= self.spec.momentum
            buffer += scratch
            np.copyto(scratch, buffer)
        scratch *= learning_rate
        param -= scratch


class Adagrad(Optimizer):
    """``s += g^2``; ``p -= lr_t g / (sqrt(s) + eps)`` with ``lr_t = lr / (1 + (t - 1) lr_decay)``."""

    @staticmethod
    def slots(spec):
        return ("sum",)

    def _update(self, index, param, grad, scratch, learning_rate):
        accumulator = self._slot("sum", index)
        np.multiply(grad, grad, out=scratch)
        accumulator += scratch
        np.sqrt(accumulator, out=scratch)
        scratch += self.spec.eps
        np.divide(grad, scratch, out=scratch)
        scratch *= learning_rate / (1.0 + (self.step - 1) * self.spec.lr_decay)
        param -= scratch


OPTIMIZERS = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
}


def make_optimizer(spec, params: list) -> Optimizer:
    """Build the optimizer ``spec.name`` names, with state shaped like ``params``."""
    return OPTIMIZERS[spec.name](spec, params)


def clip_by_global_norm(grads: list, clip_norm: float) -> None:
    """Scale ``grads`` in place so their joint L2 norm is at most ``clip_norm``.

    The scale ``min(1, clip / (norm + 1e-6))`` is applied unconditionally (as
    ``torch.nn.utils.clip_grad_norm_`` does) so no device value is read back on the host.
    """
    squared = sum((grad * grad).sum() for grad in grads)
    scale = np.minimum(clip_norm / (np.sqrt(squared) + 1e-6), 1.0)
    for grad in grads:
        grad *= scale.astype(grad.dtype)
