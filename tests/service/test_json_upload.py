"""JSON arrays bodies read a chunk of rows at a time (service/json_upload.py): the same datasets
and the same refusals as pydantic's parser on the whole body, and a peak memory of a few times
the body, measured in a fresh API process."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import text as sql

from service.app_state import app_state
import service.json_upload
from service.json_upload import read_arrays_body
from service.schemas import DatasetFromArrays

from .test_csv_upload import upload_in_a_fresh_process
from .test_datasets import stored

# Bodies that are valid but awkward; each is stored by both paths (rows of one length throughout).
AWKWARD = {
    "signed zeros": b'{"features": [[-0, -0.0], [0, 0.0]], "targets": [0, 1]}',
    "extreme numbers": b'{"features": [[1e-400, 4.9e-324], [1.7976931348623157e308, -2.2250738585072014e-308],'
                       b' [123456789012345678901234567890, 9007199254740993], [1E2, 1.5e+3]],'
                       b' "targets": [1.5, 2.0, -3, 4]}',
    "many digits": b'{"features": [[0.1000000000000000055511151231257827021181583404541015625,'
                   b' 2.00000000000000011102230246251565404236316680908203125]], "targets": [0.5]}',
    "white space everywhere": b' \r\n\t{ \n"targets" :\t[ "b" ,"a" ] ,\r\n "features"\n:\n[ [ 1 , 2 ]\n,\t[3,4] ] ,'
                              b' "task" : "classification" , "name" : null }\n ',
    "escaped strings": b'{"name": "caf\\u00e9 \\ud83d\\ude00 \\"q\\"", "features": [[1], [2], [3]],'
                       b' "targets": ["a\\"]b", "\\u005d", "\\\\"]}',
    "unicode labels": '{"features": [[1], [2]], "targets": ["\u00e9t\u00e9", "\U0001f600"]}'.encode(),
    "duplicate key, the last wins": b'{"features": [[9]], "targets": [1, 2], "features": [[1], [2]]}',
    "regression by task": b'{"features": [[1], [2]], "targets": [1, 2], "task": "regression"}',
    "an escaped key": b'{"f\\u0065atures": [[1], [2]], "targets": [1, 2]}',
}
# Valid, but left to the old path: the chunked reader takes each key once, as written.
OLD_PATH_ONLY = {"duplicate key, the last wins", "an escaped key"}


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few rows, so that small bodies are cut at many places."""
    monkeypatch.setattr(service.json_upload, "CHUNK_BYTES", 8)


def only_the_old_path(monkeypatch) -> None:
    """From now on, pydantic's parser on the whole body, as before the chunked reader: the oracle."""
    monkeypatch.setattr("service.api.datasets.read_arrays_body", lambda *arguments: None)


def post(client, body: bytes):
    return client.post("/v1/datasets", data=body, content_type="application/json")


def dataset_of(app, response) -> tuple:
    """What was stored: the row's fields and the arrays' exact bytes (the sign of a zero counts)."""
    assert response.status_code == 201, response.get_json()
    row, features, targets = stored(app, response.get_json()["id"])
    return (row.name, row.task, row.classes, row.n_samples, row.n_features, features.dtype.str,
            features.tobytes(), targets.dtype.str, targets.tobytes())


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 8])
@pytest.mark.parametrize("case", AWKWARD)
def test_awkward_valid_bodies_store_what_the_old_path_stores(make_app, monkeypatch, case, chunk_bytes):
    body = AWKWARD[case]
    monkeypatch.setattr(service.json_upload, "CHUNK_BYTES", chunk_bytes)
    assert (read_arrays_body(body, 1000, 1000) is None) == (case in OLD_PATH_ONLY)
    app = make_app()
    fast = dataset_of(app, post(app.test_client(), body))
    only_the_old_path(monkeypatch)
    assert dataset_of(app, post(app.test_client(), body)) == fast


def test_signed_zeros_are_pydantics(make_app):
    """JSON's -0 is the integer 0, so pydantic gives +0.0 for it and -0.0 only for -0.0."""
    app = make_app()
    _, features, _ = stored(app, post(app.test_client(), AWKWARD["signed zeros"]).get_json()["id"])
    assert np.signbit(features).tolist() == [[False, True], [False, False]]


def test_rows_across_many_chunks_store_the_numbers_sent(client, app):
    rng = np.random.default_rng(7)
    values = rng.normal(size=(30_000, 7)) * 10.0 ** rng.integers(-300, 300, size=(30_000, 7))
    labels = rng.integers(-5, 5, size=len(values)).tolist()
    body = json.dumps({"features": values.tolist(), "targets": labels}, indent=1).encode()
    assert len(body) > 3 * service.json_upload.CHUNK_BYTES
    _, features, targets = stored(app, post(client, body).get_json()["id"])
    np.testing.assert_array_equal(features, values)
    assert (np.arange(-5, 5)[targets]).tolist() == labels


INVALID = {
    "true is not a number": b'{"features": [[1, true]], "targets": [1]}',
    "a string is not a number": b'{"features": [[1, "5"]], "targets": [1]}',
    "NaN": b'{"features": [[NaN]], "targets": [1]}',
    "Infinity": b'{"features": [[1], [-Infinity]], "targets": [1, 2]}',
    "too big a number": b'{"features": [[1], [2], [1e999]], "targets": [1, 2, 3]}',
    "a ragged row": b'{"features": [[1, 2], [3, 4], [5], [6, 7]], "targets": [1, 2, 3, 4]}',
    "a ragged row later": b'{"features": [[1, 2], [3, 4], [5, 6], [7, 8, 9]], "targets": [1, 2, 3, 4]}',
    "an empty row": b'{"features": [[], []], "targets": [1, 2]}',
    "an empty row later": b'{"features": [[1], [2], []], "targets": [1, 2, 3]}',
    "no rows": b'{"features": [], "targets": []}',
    "a row that is not a list": b'{"features": [[1], 2], "targets": [1, 2]}',
    "nested too deep": b'{"features": [[[1]], [[2]]], "targets": [1, 2]}',
    "a comma after the last row": b'{"features": [[1], [2], ], "targets": [1, 2]}',
    "a comma after the last member": b'{"features": [[1], [2]], "targets": [1, 2], }',
    "a missing comma": b'{"features": [[1] [2]], "targets": [1, 2]}',
    "unbalanced brackets": b'{"features": [[1], [2]]], "targets": [1, 2]}',
    "text after the body": b'{"features": [[1], [2]], "targets": [1, 2]} {}',
    "a BOM": b'\xef\xbb\xbf{"features": [[1], [2]], "targets": [1, 2]}',
    "not an object": b'[[1], [2]]',
    "an unknown field": b'{"features": [[1], [2]], "targets": [1, 2], "colour": "red"}',
    "a generator beside the arrays": b'{"features": [[1], [2]], "targets": [1, 2], "generator": {"kind": "xor"}}',
    "no targets": b'{"features": [[1], [2]]}',
    "no features": b'{"targets": [1, 2]}',
    "null features": b'{"features": null, "targets": [1, 2]}',
    "too many rows": b'{"features": [[1], [2], [3], [4], [5], [6]], "targets": [1, 2, 3, 4, 5, 6]}',
    "too many features": b'{"features": [[1, 2, 3, 4, 5, 6]], "targets": [1]}',
    "fewer targets than rows": b'{"features": [[1], [2], [3]], "targets": [1, 2]}',
    "no target": b'{"features": [[1], [2]], "targets": []}',
    "numbers and strings as targets": b'{"features": [[1], [2], [3]], "targets": [1, "a", 2]}',
    "a bool target": b'{"features": [[1], [2]], "targets": [true, 1]}',
    "a null target": b'{"features": [[1], [2]], "targets": [1, null]}',
    "a nested target": b'{"features": [[1], [2]], "targets": [1, [2]]}',
    "a target over 64 bits": b'{"features": [[1], [2]], "targets": [1, 9223372036854775808]}',
    "an infinite target": b'{"features": [[1], [2]], "targets": [1.5, 1e999]}',
    "a label too long": b'{"features": [[1], [2]], "targets": ["a", "' + b"x" * 11 + b'"]}',
    "one class": b'{"features": [[1], [2]], "targets": ["a", "a"]}',
    "too many classes": b'{"features": [[1], [2], [3], [4]], "targets": ["a", "b", "c", "d"]}',
    "strings for regression": b'{"features": [[1], [2]], "targets": ["a", "b"], "task": "regression"}',
    "a lone surrogate in a label": b'{"features": [[1], [2]], "targets": ["\\ud800", "b"]}',
    "a control character in a label": b'{"features": [[1], [2]], "targets": ["a\nb", "b"]}',
    "invalid UTF-8 in a label": b'{"features": [[1], [2]], "targets": ["\xff", "b"]}',
    "an empty name": b'{"name": "", "features": [[1], [2]], "targets": [1, 2]}',
    "a name too long": b'{"name": "' + b"n" * 201 + b'", "features": [[1], [2]], "targets": [1, 2]}',
    "a name that is a number": b'{"name": 5, "features": [[1], [2]], "targets": [1, 2]}',
    "an unknown task": b'{"features": [[1], [2]], "targets": [1, 2], "task": "ranking"}',
    "a body over the size limit": b'{"features": [' + b"[1], " * 2000 + b'[1]], "targets": [1]}',
}


def answer_of(response) -> tuple:
    return response.status_code, response.mimetype, response.get_json(silent=True), response.get_data()


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 8])
@pytest.mark.parametrize("case", INVALID)
def test_invalid_bodies_get_the_old_paths_answer(make_app, monkeypatch, case, chunk_bytes):
    monkeypatch.setattr(service.json_upload, "CHUNK_BYTES", chunk_bytes)
    app = make_app(max_rows=5, max_features=5, max_label_length=10, max_classes=3, max_body_bytes=8000)
    body = INVALID[case]
    fast = answer_of(post(app.test_client(), body))
    assert 400 <= fast[0] < 500, fast
    only_the_old_path(monkeypatch)
    assert answer_of(post(app.test_client(), body)) == fast
    with app_state(app).sessions() as session:
        assert session.execute(sql("select count(*) from datasets")).scalar() == 0


def pydantics(body: bytes) -> tuple | None:
    """The oracle for one body: what pydantic's parser makes of it (rows of one length), or None."""
    try:
        model = DatasetFromArrays.model_validate_json(body, strict=True, context={"max_rows": 1000})
    except ValidationError:
        return None
    if len({len(row) for row in model.features}) != 1 or not 1 <= len(model.features[0]) <= 1000:
        return None
    return model.name, model.task, np.asarray(model.features).tobytes(), model.targets


MUTATIONS = b' ,[]{}":-+.eE0159\n\\atrue'


def test_mutated_bodies_are_read_as_pydantic_reads_them(small_chunks):
    """The chunked reader takes exactly the bodies pydantic takes, with the same values: three
    thousand bodies, each a valid one with a byte or two inserted, deleted or replaced (none
    has a duplicate or escaped key, which the reader leaves to pydantic)."""
    seed = (b'{"name": "m", "features": [[1.5, -2], [0, 3e2], [-0.0, 4]], "targets": ["x", "y\\"", "z"],'
            b' "task": "classification"}')
    generator, taken = random.Random(11), 0
    for _ in range(3000):
        body = bytearray(seed)
        for _ in range(generator.randint(1, 2)):
            where = generator.randrange(len(body))
            choice = generator.random()
            if choice < 0.4:
                body[where:where] = bytes([generator.choice(MUTATIONS)])
            elif choice < 0.7:
                del body[where]
            else:
                body[where] = generator.choice(MUTATIONS)
        body = bytes(body)
        chunked = read_arrays_body(body, 1000, 1000)
        read = None if chunked is None else (chunked.name, chunked.task, chunked.features.tobytes(), chunked.targets)
        assert read == pydantics(body), body
        taken += chunked is not None
    assert taken > 150  # Enough of the mutants stay valid for the comparison to mean something.


def test_upload_peak_memory_is_a_few_times_the_body(tmp_path):
    """A 20 MB JSON body in a fresh API process, warmed up by a small one: its resident memory
    grows by under 4x the body (pydantic's floats and lists for the whole body took 11x), and the
    stored features and targets are the numbers sent."""
    rng = np.random.default_rng(5)
    values = rng.normal(size=(200_000, 10)).round(6)
    labels = rng.integers(0, 3, size=len(values)).tolist()
    body = json.dumps({"name": "big", "features": values.tolist(), "targets": labels}).encode()
    growth, features, stored_labels = upload_in_a_fresh_process(tmp_path, body, "application/json", "big")

    assert growth < 4 * len(body), f"grew {growth / 2**20:.0f} MiB for a {len(body) / 2**20:.0f} MiB body"
    np.testing.assert_array_equal(features, values)
    assert stored_labels == labels
