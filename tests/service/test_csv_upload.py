"""CSV dataset uploads through pyarrow: the same answers and refusals as Python's csv module, and
a peak memory of a few times the body, measured in a fresh API process."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sqlalchemy import create_engine
from sqlalchemy import text as sql

import migrations
from service.storage import decode_arrays

from .test_datasets import csv_upload, errors_of, stored


def python_csv_rows(text: str) -> list[list[str]]:
    """The oracle: the non-blank rows Python's csv module reads."""
    return [row for row in csv.reader(io.StringIO(text, newline="")) if any(cell.strip() for cell in row)]


TRICKY = (
    "\ufeffx,\"y, quoted\",label\r\n"         # A BOM, CRLF, a quoted name with a comma.
    "1,2,cat\r\n"
    "\r\n"                                      # Blank, skipped.
    " ,  ,  \r\n"                               # Only white space, skipped.
    ",,,,\r\n"                                  # Blank with the wrong number of cells, skipped.
    "\"3.5\",  -4e2 ,\"two\nlines\"\r\n"        # Quoted numbers, padding, a newline inside a label.
    "+.5,7.,\u00a0dog\u00a0\r\n"                # Unicode white space is trimmed, as str.strip() does.
)


def test_tricky_csv_reads_as_pythons_csv_module_reads_it(client, app):
    response = csv_upload(client, TRICKY, target="label")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    rows = python_csv_rows(TRICKY.removeprefix("\ufeff"))
    header = [name.strip() for name in rows[0]]
    assert body["feature_names"] == header[:2] == ["x", "y, quoted"]
    labels = [row[2].strip() for row in rows[1:]]
    assert body["classes"] == sorted(set(labels)) == ["cat", "dog", "two\nlines"]
    _, features, targets = stored(app, body["id"])
    np.testing.assert_array_equal(features, [[float(cell) for cell in row[:2]] for row in rows[1:]])
    assert [body["classes"][index] for index in targets] == labels


@pytest.mark.parametrize("labels, task, classes", [
    (["+5", "007", "-3"], "classification", [-3, 5, 7]),
    (["1.5", "+2", "3e1"], "regression", None),
])
def test_numeric_targets_follow_pythons_int_and_float(client, labels, task, classes):
    text = "a,y\n" + "".join(f"{index},{label}\n" for index, label in enumerate(labels))
    body = csv_upload(client, text, target="y").get_json()
    assert (body["task"], body["classes"]) == (task, classes)


def many_rows(n_rows: int, bad_row: int | None = None, bad_cell: str = "oops") -> str:
    """A CSV of ``n_rows`` (several of pyarrow's blocks), a blank line every 100 rows and, when
    asked, one bad cell at data row ``bad_row``."""
    lines = ["a,b,label"]
    for row in range(n_rows):
        if row % 100 == 50:
            lines.append("")
        b = bad_cell if row == bad_row else f"{row * 0.5}"
        lines.append(f"{row},{b},{'cat' if row % 2 else 'dog'}")
    return "\n".join(lines) + "\n"


def line_of(text: str, needle: str) -> int:
    return text.splitlines().index(next(line for line in text.splitlines() if needle in line)) + 1


def test_a_bad_cell_blocks_into_the_file_names_its_line(client):
    text = many_rows(40_000, bad_row=37_777)  # Some 900 kB: past pyarrow's first blocks, spooled to disk.
    [error] = errors_of(csv_upload(client, text, target="label"))
    line = line_of(text, "37777,oops")
    assert (error["row"], error["column"]) == (line, "b")
    # A column of numbers but for one cell is refused at that cell, not read as categories.
    assert error["detail"].startswith(f"line {line}, column 'b': 'oops' is not a number (the column is otherwise numbers")


@pytest.mark.parametrize("bad_cell, problem", [("inf", "is not a finite number"), ("1_000", "is not a number"),
                                               ("1e999", "is too large for a 64-bit float"), ("0x10", "is not a number")])
def test_strict_numbers_far_into_the_file(client, bad_cell, problem):
    text = many_rows(12_000, bad_row=11_000, bad_cell=bad_cell)
    [error] = errors_of(csv_upload(client, text, target="label"))
    assert error["detail"].startswith(f"line {line_of(text, f'11000,{bad_cell}')}, column 'b': '{bad_cell}' {problem}")


def test_a_ragged_row_far_into_the_file_names_its_line(client):
    text = many_rows(12_000).replace("\n9000,4500.0,dog\n", "\n9000,4500.0\n")
    [error] = errors_of(csv_upload(client, text, target="label"))
    line = line_of(text, "9000,4500.0")
    assert error == {**error, "row": line, "detail": f"line {line} has 2 cells, the header has 3"}


def test_a_bad_target_far_into_the_file_names_its_line(client):
    text = many_rows(12_000).replace("\n9000,4500.0,dog\n", "\n9000,4500.0,nan\n")
    [error] = errors_of(csv_upload(client, text, target="label"))
    assert (error["row"], error["column"]) == (line_of(text, "9000,4500.0"), "label")


def test_not_utf8_names_the_byte(client):
    text = "a,label\n1,cat\n2,d\xffg\n".encode("latin-1")
    response = client.post("/v1/datasets", data={"file": (io.BytesIO(text), "x.csv"), "target": "label"},
                           content_type="multipart/form-data")
    [error] = errors_of(response)
    position = text.index(b"\xff")
    assert error["detail"] == f"not UTF-8 text (invalid start byte at byte {position})"


def test_max_rows_counts_across_blocks(make_app):
    client = make_app(max_rows=11_999).test_client()
    assert "max_rows" in errors_of(csv_upload(client, many_rows(12_000), target="label"))[0]["detail"]
    client = make_app(max_rows=12_000).test_client()
    assert csv_upload(client, many_rows(12_000), target="label").get_json()["n_samples"] == 12_000


MEASURE = r"""
import io, os, sys
from service import create_app
database_url, body_path, content_type = sys.argv[1:]
app = create_app({"database_url": database_url, "broker_url": "memory://", "auth": False,
                  "max_body_bytes": 2**30})
client = app.test_client()
# A first, small upload of the same kind: what a process loads once (imports, caches) is not the upload's cost.
if content_type.startswith("multipart/"):
    warm = client.post("/v1/datasets", data={"file": (io.BytesIO(b"a,y\n1,cat\n2,dog\n"), "w.csv"),
                                             "target": "y"}, content_type="multipart/form-data")
else:
    warm = client.post("/v1/datasets", json={"features": [[1.0], [2.0]], "targets": [0, 1]})
assert warm.status_code == 201, warm.get_json()
def kib(field):
    status = open("/proc/self/status").read()
    return int(status.split(field + ":")[1].split()[0])
before = kib("VmRSS")
with open(body_path, "rb") as body:
    response = client.post("/v1/datasets", input_stream=body, content_length=os.path.getsize(body_path),
                           content_type=content_type)
assert response.status_code == 201, response.get_json()
print((kib("VmHWM") - before) * 1024)
print("growth", (kib("VmHWM") - before) / 1024, "MiB", file=sys.stderr)
"""


def test_upload_peak_memory_is_a_few_times_the_body(tmp_path):
    """A 20 MB upload in a fresh API process, warmed up by a small one: its resident memory grows
    by under 4x the body (the csv module's lists of floats took 13x), and the stored features are
    the file's numbers."""
    rng = np.random.default_rng(5)
    values = rng.normal(size=(200_000, 10)).round(6)
    labels = np.array(["cat", "dog", "eel"])[rng.integers(0, 3, size=len(values))]
    text = io.StringIO()
    text.write(",".join(f"x{index}" for index in range(10)) + ",label\n")
    for row, label in zip(values.tolist(), labels):
        text.write(",".join(f"{value:.6f}" for value in row) + f",{label}\n")
    boundary = "axonboundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="target"\r\n\r\nlabel\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n{text.getvalue()}\r\n--{boundary}--\r\n").encode()
    content_type = "multipart/form-data; boundary=" + boundary
    growth, features, stored_labels = upload_in_a_fresh_process(tmp_path, body, content_type, "big.csv")

    assert growth < 4 * len(body), f"grew {growth / 2**20:.0f} MiB for a {len(body) / 2**20:.0f} MiB body"
    np.testing.assert_array_equal(features, values)
    assert stored_labels == labels.tolist()


def upload_in_a_fresh_process(tmp_path, body: bytes, content_type: str, name: str) -> tuple:
    """Upload ``body`` in a fresh API process (:data:`MEASURE`), warmed up by a small upload of the
    same kind; returns (growth of its peak resident memory in bytes, features, labels) of the
    dataset ``name`` it stored."""
    body_path = tmp_path / "body"
    body_path.write_bytes(body)
    database_url = f"sqlite:///{tmp_path / 'axon.db'}"
    migrations.upgrade(database_url)
    completed = subprocess.run([sys.executable, "-c", textwrap.dedent(MEASURE), database_url, str(body_path),
                                content_type], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    with create_engine(database_url).connect() as connection:
        blob, classes = connection.execute(sql("select data, classes from datasets where name = :name"),
                                           {"name": name}).one()
    features, targets = decode_arrays(blob)
    return int(completed.stdout.split()[-1]), features, np.asarray(json.loads(classes))[targets].tolist()
