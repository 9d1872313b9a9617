"""A sweep's search space: distributions over spec fields named by JSON pointer, and the trials drawn from it.

Pure functions of (space, strategy, seed, trial index), so every trial can be drawn again from the
sweep's row alone: the API draws them all up front to validate them, and the scheduler draws each
one again when it creates its job. No database, no Flask.

* ``grid``: the Cartesian product of every dimension (``choice`` values, ``int`` ranges), in
  the order of the sorted pointers, the last pointer varying fastest.
* ``random`` and ``asha``: each trial from its own generator seeded by ``(seed, trial)``, so the
  same sweep seed gives the same trials whatever order they are created in.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Iterator

import numpy as np

from .sweep_schemas import Choice, Distribution, IntRange, LogUniform, Uniform

# Grid sweeps are enumerated up front; a space this large is a mistake, not a sweep.
MAX_GRID_SIZE = 100_000


class PointerError(ValueError):
    """A pointer that names no place in the spec; ``pointer`` is the space entry's."""

    def __init__(self, detail: str, pointer: str = ""):
        super().__init__(detail)
        self.pointer = pointer


def unescape(token: str) -> str:
    """One RFC 6901 reference token as the key it names."""
    return token.replace("~1", "/").replace("~0", "~")


def escape(pointer: str) -> str:
    """``pointer`` as a single reference token, to name the space entry inside the request body."""
    return pointer.replace("~", "~0").replace("/", "~1")


def set_pointer(document: dict, pointer: str, value: Any) -> None:
    """Set the place ``pointer`` names in ``document`` (in place); its parent must exist.

    The last key of an object may be new (the spec's own validation then says whether the field
    exists); the last index of a list must be an existing one.
    """
    tokens = [unescape(token) for token in pointer.split("/")[1:]]
    parent: Any = document
    for depth, token in enumerate(tokens):
        last = depth == len(tokens) - 1
        if isinstance(parent, dict):
            if last:
                parent[token] = copy.deepcopy(value)
                return
            if token not in parent or not isinstance(parent[token], (dict, list)):
                raise PointerError(f"{'/'.join(['', *tokens[:depth + 1]])} is not an object or list in the spec")
            parent = parent[token]
        elif isinstance(parent, list):
            if not token.isdigit() or int(token) >= len(parent):
                raise PointerError(f"the spec has no item {token} at {'/'.join(['', *tokens[:depth]]) or '/'}")
            if last:
                parent[int(token)] = copy.deepcopy(value)
                return
            parent = parent[int(token)]
    raise PointerError("the pointer names no field")


def apply_values(base_spec: dict, values: dict[str, Any]) -> dict:
    """A copy of ``base_spec`` with each pointer of ``values`` set; shorter pointers first, so
    ``/layers`` and then ``/layers/0/activation`` can both apply."""
    spec = copy.deepcopy(base_spec)
    for pointer in sorted(values):
        try:
            set_pointer(spec, pointer, values[pointer])
        except PointerError as error:
            raise PointerError(str(error), pointer) from None
    return spec


def axis_length(distribution: Distribution) -> int:
    """How many values a grid takes along one dimension; ValueError for a continuous range."""
    if isinstance(distribution, Choice):
        return len(distribution.values)
    if isinstance(distribution, IntRange):
        return distribution.high - distribution.low + 1
    raise ValueError(f"a grid needs choice or int dimensions; {distribution.type} is continuous")


def axis_value(distribution: Distribution, index: int) -> Any:
    """The ``index``-th value along a grid dimension (an int range is never listed: it may be huge)."""
    if isinstance(distribution, IntRange):
        return distribution.low + index
    return copy.deepcopy(distribution.values[index])


def grid_size(space: dict[str, Distribution]) -> int:
    return math.prod(axis_length(space[pointer]) for pointer in sorted(space))


def grid_values(space: dict[str, Distribution], trial: int) -> dict[str, Any]:
    """Trial ``trial`` of the grid: ``trial`` read as a mixed-radix number, the last pointer its lowest digit."""
    values = {}
    for pointer in reversed(sorted(space)):
        trial, digit = divmod(trial, axis_length(space[pointer]))
        values[pointer] = axis_value(space[pointer], digit)
    return dict(sorted(values.items()))


def random_values(space: dict[str, Distribution], seed: int, trial: int) -> dict[str, Any]:
    """Trial ``trial`` drawn at random: one generator per (seed, trial), one draw per pointer in sorted order."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, trial])))
    return {pointer: draw(space[pointer], rng) for pointer in sorted(space)}


def draw(distribution: Distribution, rng: np.random.Generator) -> Any:
    """One value of ``distribution``, as a plain JSON value."""
    if isinstance(distribution, Choice):
        return copy.deepcopy(distribution.values[int(rng.integers(len(distribution.values)))])
    if isinstance(distribution, IntRange):
        return int(rng.integers(distribution.low, distribution.high + 1))
    # LogUniform first: it is a Uniform too.
    if isinstance(distribution, LogUniform):
        return float(math.exp(rng.uniform(math.log(distribution.low), math.log(distribution.high))))
    if isinstance(distribution, Uniform):
        return float(rng.uniform(distribution.low, distribution.high))
    raise TypeError(f"unknown distribution {distribution!r}")


def trial_values(space: dict[str, Distribution], strategy: str, seed: int, trial: int) -> dict[str, Any]:
    """The values of trial ``trial`` (0-based) of a sweep."""
    if strategy == "grid":
        return grid_values(space, trial)
    return random_values(space, seed, trial)


def all_trial_values(space: dict[str, Distribution], strategy: str, seed: int,
                     n_trials: int) -> Iterator[dict[str, Any]]:
    for trial in range(n_trials):
        yield trial_values(space, strategy, seed, trial)
