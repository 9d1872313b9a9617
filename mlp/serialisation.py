"""Bytes for checkpoints and models: one ``.npz`` of plain arrays plus a JSON header, never pickle.

The JSON travels as a uint8 array named ``__meta__``; loading uses ``allow_pickle=False``, so an
object array in an uploaded file is refused rather than executed.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

META_KEY = "__meta__"


class FormatError(ValueError):
    """The bytes are not an Axon checkpoint or model of a readable version."""


def pack(meta: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise a JSON-able ``meta`` and host ``arrays`` to npz bytes."""
    buffer = io.BytesIO()
    header = np.frombuffer(json.dumps(meta, allow_nan=False).encode(), dtype=np.uint8)
    np.savez(buffer, **{META_KEY: header}, **arrays)
    return buffer.getvalue()


def unpack(blob: bytes, kind: str, version: int) -> tuple[dict, dict[str, np.ndarray]]:
    """Read bytes written by :func:`pack` whose meta says ``format == kind`` and ``version``.

    Raises
    ------
    FormatError
        Not an npz, no header, pickled objects, or another format or version.
    """
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise FormatError(f"not a readable npz archive without pickled objects: {error}") from None
    if META_KEY not in arrays:
        raise FormatError("the archive has no Axon header")
    try:
        meta = json.loads(arrays.pop(META_KEY).tobytes())
    except (ValueError, UnicodeDecodeError) as error:
        raise FormatError(f"the Axon header is not JSON: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != kind or meta.get("version") != version:
        raise FormatError(f"expected an {kind} version {version} archive")
    for name, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise FormatError(f"array {name!r} has dtype {array.dtype}, not numbers")
    return meta, arrays
