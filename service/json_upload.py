"""A JSON arrays body (``POST /v1/datasets``) read into a float64 array a megabyte of rows at a time.

pydantic's parser, given the whole body, holds a Python float and a list per row for every
number at once: some 12 times the body. This reader splits the body at its top level instead
and hands pydantic the features a chunk of rows at a time, each chunk copied into one
preallocated (n_samples, n_features) array before the next is read. Each piece goes through the
same pydantic types, strict, as the whole body would (``Row``, ``Target``, the model itself for
``name`` and ``task``), so the numbers, and what is accepted, are pydantic's own.

It is only a faster way to the same result. A body it does not recognise (duplicate or escaped
keys, rows that are not all the same length, anything a piece's validation refuses) gives
``None``, and the caller reads it the usual way, so every refusal answers as it always has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from pydantic import ConfigDict, TypeAdapter, ValidationError

from .schemas import DatasetFromArrays, Row, Target

# About this many bytes of rows per call of pydantic's parser: a few MiB of Python objects.
CHUNK_BYTES = 1 << 20

# The request models' own config (no NaN or infinities), for the pieces validated on their own.
_PIECES = ConfigDict(allow_inf_nan=False)
ROWS = TypeAdapter(list[Row], config=_PIECES)
TARGETS = TypeAdapter(list[Target], config=_PIECES)

_WS = rb"[ \t\n\r]*"  # JSON's white space and nothing more: a body with any other goes the usual way
OPENING = re.compile(_WS + rb"\{" + _WS)
# Keys spelled plainly; an escaped one (``"t\u0061sk"``) is the same key to JSON and goes the usual way.
KEY = re.compile(rb'"(name|features|targets|task)"' + _WS + rb":" + _WS)
AFTER_VALUE = re.compile(_WS + rb"([,}])" + _WS)
# ``name`` and ``task``: a string or null, checked by pydantic afterwards.
SMALL_VALUE = re.compile(rb'"(?:[^"\\]++|\\.)*+"|null')
# The features hold only these characters; their value is the stretch up to its last ']'.
NUMBERS_STRETCH = re.compile(rb"[-+.0-9eE,\[\] \t\n\r]*+")
# Between two rows: where a chunk may end.
ROW_SEPARATOR = re.compile(rb"\]" + _WS + rb",")
# The targets: an array of numbers and strings, nothing nested.
FLAT_ARRAY = re.compile(rb'\[(?:[^"\[\]{}]++|"(?:[^"\\]++|\\.)*+")*+\]')


@dataclass
class ArraysBody:
    """A JSON arrays body as :class:`~service.schemas.DatasetFromArrays` would hold it, the
    features as one (n_samples, n_features) float64 array instead of a list of rows."""

    name: str | None
    features: np.ndarray
    targets: list[int | float | str]
    task: str | None


def read_arrays_body(raw: bytes, max_rows: int, max_features: int) -> ArraysBody | None:
    """What ``DatasetFromArrays.model_validate_json(raw, strict=True)`` would hold, the features
    as an array; None for a body to read the usual way.

    None for any body this reader does not take (see the module), and also for rows of unequal
    length, more than ``max_rows`` rows or more than ``max_features`` features, which the usual
    way refuses with its own answer.
    """
    opening = OPENING.match(raw)
    if opening is None:
        return None
    position, values = opening.end(), {}
    while True:
        key = KEY.match(raw, position)
        field = key and key[1].decode()
        if field is None or field in values:
            return None
        start = key.end()
        if field == "features":
            end = _features_end(raw, start)
            values[field] = _read_features(raw, start, end, max_rows, max_features) if end else None
        elif field == "targets":
            array = FLAT_ARRAY.match(raw, start)
            end = array and array.end()
            values[field] = _read_targets(raw[start:end]) if end else None
        else:
            small = SMALL_VALUE.match(raw, start)
            end = small and small.end()
            values[field] = raw[start:end] if end else None
        if values[field] is None:
            return None
        following = AFTER_VALUE.match(raw, end)
        if following is None:
            return None
        position = following.end()
        if following[1] == b"}":
            break
    if position != len(raw) or "features" not in values or "targets" not in values:
        return None
    small_fields = _read_small_fields(values.get("name", b"null"), values.get("task", b"null"), max_rows)
    if small_fields is None:
        return None
    return ArraysBody(small_fields.name, values["features"], values["targets"], small_fields.task)


def _features_end(raw: bytes, start: int) -> int | None:
    """Where the features' value ends if it starts at ``start``: after the last ']' of the
    stretch of characters a list of rows can hold (its validation shows whether that is it)."""
    stretch_end = NUMBERS_STRETCH.match(raw, start).end()
    last = raw.rfind(b"]", start, stretch_end)
    return last + 1 if last > start else None


def _read_features(raw: bytes, start: int, end: int, max_rows: int, max_features: int) -> np.ndarray | None:
    """The rows of ``raw[start:end]``, a JSON list of rows, as (n_samples, n_features) float64.

    The inside of the list is cut after a row's ']' and before the ',' that follows it, and each
    piece is validated as a list of rows of its own: if every piece is a non-empty list of rows,
    so is the whole, with the same rows.
    """
    if raw[start:start + 1] != b"[":
        return None
    # Only numbers are in a valid list of rows, so each '[' opens a row, bar the outer one.
    n_samples = raw.count(b"[", start, end) - 1
    # A valid list has a ',' between each two numbers and no other: at most this many numbers.
    most_numbers = raw.count(b",", start, end) + 1
    if not 1 <= n_samples <= max_rows:
        return None
    features, filled, piece_start, inside_end = None, 0, start + 1, end - 1
    while True:
        separator = ROW_SEPARATOR.search(raw, piece_start + CHUNK_BYTES, inside_end)
        piece_end = separator.end() - 1 if separator else inside_end
        try:
            rows = ROWS.validate_json(b"".join((b"[", memoryview(raw)[piece_start:piece_end], b"]")), strict=True)
            block = np.array(rows, dtype=np.float64)
        except (ValidationError, ValueError):  # ValueError: rows of unequal length
            return None
        del rows
        if block.ndim != 2 or len(block) == 0:
            return None
        if features is None:
            n_features = block.shape[1]
            if n_features > max_features or n_samples * n_features > most_numbers:
                return None
            features = np.empty((n_samples, n_features))
        if block.shape[1] != n_features or filled + len(block) > n_samples:
            return None
        features[filled:filled + len(block)] = block
        filled += len(block)
        if separator is None:
            break
        piece_start = separator.end()  # a piece after the last ',' must be rows too: "[[1],]" is not
    return features if filled == n_samples else None


def _read_targets(text: bytes) -> list[int | float | str] | None:
    """A JSON list of targets as ``DatasetFromArrays.targets`` holds it, or None."""
    try:
        targets = TARGETS.validate_json(text, strict=True)
    except ValidationError:
        return None
    return targets or None


def _read_small_fields(name: bytes, task: bytes, max_rows: int) -> DatasetFromArrays | None:
    """``name`` and ``task`` (their JSON text) validated by the model itself, with stand-in arrays."""
    stand_in = b'{"name":%s,"task":%s,"features":[[0]],"targets":[0]}' % (name, task)
    try:
        return DatasetFromArrays.model_validate_json(stand_in, strict=True, context={"max_rows": max_rows})
    except ValidationError:
        return None
