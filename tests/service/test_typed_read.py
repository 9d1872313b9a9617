"""pyarrow types a CSV's columns as it reads them, and a Parquet file's come typed
(service/table_upload.py); the oracle is the rules' own reading of the same file as text (every
column named in ``text_columns``): the same schema and the same coded columns, cell for cell,
whatever pyarrow would have made of a cell."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from service.errors import InvalidRequest
from service.storage import decode_arrays, encode_arrays
from service.table_upload import read_upload
from service.tabular import Problems, describe_table

from .test_datasets import errors_of, stored
from .test_tabular_upload import upload

N_ROWS = 6000  # Some 300 KB: several of the reader's 64 KiB blocks.


def awkward_table() -> pd.DataFrame:
    """Columns pyarrow types (numbers, True/False, dates) and columns it would type otherwise than the rules."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "": np.arange(N_ROWS),  # pandas' index, unnamed.
        "x": rng.normal(size=N_ROWS).round(5),
        "count": rng.integers(0, 50, N_ROWS),
        "flag": np.where(rng.random(N_ROWS) < 0.5, "True", "False"),
        "spelt": np.where(rng.random(N_ROWS) < 0.5, "true", "TRUE"),  # Not pandas' spelling: text to pyarrow.
        "day": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, N_ROWS), unit="D"),
        "when": [f"2024-02-{1 + index % 28:02d} {index % 24:02d}:00:00" for index in range(N_ROWS)],
        "clock": [f"{index % 24:02d}:30" for index in range(N_ROWS)],  # pyarrow: time32; the rules: text.
        "id": [f"+{index}" for index in range(N_ROWS)],  # Whole numbers pyarrow reads as floats.
        "ones": [f"{value}.0" for value in rng.integers(0, 2, N_ROWS)],
        "spaced": [f" {value} " for value in rng.integers(0, 9, N_ROWS)],
        "colour": rng.choice(["red", "green", "blue"], N_ROWS),
        "same": 3,
        "empty": "",
        "y": rng.choice(["a", "b"], N_ROWS),
    })
    frame[["x", "count", "flag"]] = frame[["x", "count", "flag"]].astype(object)
    frame.loc[rng.choice(N_ROWS, 300, replace=False), "x"] = ""  # Empty cells: null to pyarrow, missing to the rules.
    frame.loc[rng.choice(N_ROWS, 5, replace=False), "x"] = "nan"  # pyarrow: NaN; the rules: missing.
    frame.loc[rng.choice(N_ROWS, 40, replace=False), "flag"] = ""
    frame.loc[[10, N_ROWS - 3], "count"] = ["NA", ""]
    return frame


def read_both(content: bytes, target: str = "y", overrides: dict | None = None):
    """(fast, text): describe_table of the file as read by default, and with every column read as text."""
    readings = []
    for text_columns in ({target, *(overrides or {})}, None):
        source = io.BytesIO(content)
        if text_columns is None:  # Every column: the header names, as the reader trims them.
            text_columns = {name.strip() or "Unnamed: 0" for name in content.split(b"\n", 1)[0].decode().split(",")}
        table, lines = read_upload(source, 10**6, 100, text_columns=text_columns)
        readings.append((table, describe_table(table, target, None, overrides or {}, lines, 1000)))
    return readings


def test_the_typed_read_makes_the_dataset_the_rules_make_of_the_text():
    content = awkward_table().to_csv(index=False).encode()
    (fast_table, fast), (text_table, text) = read_both(content)
    assert text_table.schema.types == [pa.string()] * text_table.num_columns  # The oracle read text only.
    types = dict(zip(fast_table.column_names, fast_table.schema.types))
    # What pyarrow typed, and what it left to the rules (its typing of those is not theirs).
    assert (types["x"], types["count"]) == (pa.string(), pa.string())  # 'nan' and 'NA' cells: read again.
    assert (types["flag"], types["day"], types["Unnamed: 0"]) == (pa.bool_(), pa.date32(), pa.int64())
    assert (types["ones"], types["spaced"]) == (pa.float64(), pa.int64())  # 1.0 is a float; ' 3 ' an int.
    for name in ("spelt", "when", "clock", "id", "empty"):
        assert types[name] == pa.string(), name
    assert fast.schema == text.schema
    assert fast.feature_names == text.feature_names
    np.testing.assert_array_equal(fast.coded, text.coded)  # NaN where missing, in the same cells.
    kinds = {column["name"]: column["kind"] for column in fast.schema["columns"]}
    assert kinds == {"Unnamed: 0": "identifier", "x": "numeric", "count": "numeric", "flag": "boolean",
                     "spelt": "boolean", "day": "datetime", "when": "datetime", "clock": "categorical",
                     "id": "identifier", "ones": "numeric", "spaced": "numeric", "colour": "categorical",
                     "same": "constant", "empty": "constant"}


def test_typed_columns_without_surprises_stay_typed_and_agree():
    frame = awkward_table()[["x", "count", "flag", "day", "colour", "y"]]
    frame = frame.replace({"x": {"nan": ""}, "count": {"NA": ""}})
    content = frame.to_csv(index=False).encode()
    (fast_table, fast), (_, text) = read_both(content)
    assert fast_table.schema.types[:4] == [pa.float64(), pa.int64(), pa.bool_(), pa.date32()]
    assert fast.schema == text.schema
    np.testing.assert_array_equal(fast.coded, text.coded)


def test_a_fraction_past_the_first_block_is_read_as_the_rules_read_it(client, app):
    """pyarrow types a column by its first block: whole numbers there, 2.5 at the end."""
    values = [str(index % 97) for index in range(N_ROWS)] + ["2.5"]
    content = ("a,y\n" + "".join(f"{value},{index % 2}\n" for index, value in enumerate(values))).encode()
    (_, fast), (_, text) = read_both(content)
    assert fast.schema == text.schema
    np.testing.assert_array_equal(fast.coded, text.coded)
    response = upload(client, content, filename="late.csv", target="y")
    assert response.status_code == 201, response.get_json()
    _, features, _ = stored(app, response.get_json()["id"])
    assert features[-1, 0] == 2.5 and features[:-1, 0].tolist() == [float(value) for value in values[:-1]]


def test_hex_is_not_a_number_whatever_pyarrow_reads(client):
    """pyarrow reads 0x10 as 16; the rules refuse it in a column of numbers, naming the cell."""
    rows = "".join(f"{index},{index % 2}\n" for index in range(200))
    content = ("a,y\n" + rows + "0x10,1\n").encode()
    [error] = errors_of(upload(client, content, filename="hex.csv", target="y"))
    assert error["column"] == "a" and "'0x10' is not a number" in error["detail"]
    with pytest.raises(Problems):
        read_both(content)


@pytest.mark.parametrize("cell, problem", [("inf", "is not a finite number"), ("1e999", "is too large")])
def test_a_float_pyarrow_reads_as_infinite_is_refused_as_the_rules_refuse_it(client, cell, problem):
    content = ("a,y\n" + "".join(f"{index / 4},{index % 2}\n" for index in range(300)) + f"{cell},0\n").encode()
    [error] = errors_of(upload(client, content, filename="inf.csv", target="y"))
    assert error["column"] == "a" and f"'{cell}' {problem}" in error["detail"], error


def test_a_ragged_row_past_the_first_block_is_named_by_its_line():
    content = ("a,b,y\n" + "".join(f"{index},{index},1\n" for index in range(N_ROWS)) + "1,2\n").encode()
    with pytest.raises(InvalidRequest) as refused:
        read_upload(io.BytesIO(content), 10**6, 100, text_columns={"y"})
    assert refused.value.errors[0]["row"] == N_ROWS + 2


def parquet_table() -> pd.DataFrame:
    """Columns Parquet keeps typed (whole numbers of several widths, float64 with NaN and None,
    nullable booleans and integers, dates, timestamps at midnight) and columns that go through
    text (float32, uint64, times of day, text, an id of whole floats, a column without a value)."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=N_ROWS).round(5)
    x[rng.choice(N_ROWS, 200, replace=False)] = np.nan
    flag = pd.array(rng.random(N_ROWS) < 0.5, dtype="boolean")
    flag[rng.choice(N_ROWS, 30, replace=False)] = pd.NA
    count = pd.array(rng.integers(0, 50, N_ROWS), dtype="Int64")
    count[[3, 99]] = pd.NA
    return pd.DataFrame({
        "x": x, "count": count, "small": rng.integers(-5, 5, N_ROWS).astype(np.int8),
        "wide": rng.integers(0, 2**40, N_ROWS), "flag": flag,
        "day": (pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, N_ROWS), unit="D")).date,
        "stamp": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, N_ROWS), unit="D"),  # Midnights.
        "when": pd.to_datetime("2024-02-01") + pd.to_timedelta(rng.integers(0, 10**6, N_ROWS), unit="s"),
        "f32": rng.normal(size=N_ROWS).astype(np.float32), "big": rng.integers(0, 2**63, N_ROWS, dtype=np.uint64),
        "row_id": np.arange(N_ROWS, dtype=np.float64), "nothing": np.full(N_ROWS, np.nan),
        "colour": rng.choice(["red", "green", "blue"], N_ROWS), "y": rng.choice(["a", "b"], N_ROWS),
    })


def test_a_parquet_files_typed_columns_make_the_dataset_its_text_makes():
    """The oracle is the Parquet read with every column cast to text, as the rules read a CSV."""
    buffer = io.BytesIO()
    frame = parquet_table()
    frame.to_parquet(buffer, index=False)
    readings = []
    for text_columns in ({"y"}, set(frame.columns)):
        table, lines = read_upload(io.BytesIO(buffer.getvalue()), 10**6, 100, text_columns=text_columns)
        readings.append((table, describe_table(table, "y", None, {}, lines, 1000)))
    (fast_table, fast), (text_table, text) = readings
    assert text_table.schema.types == [pa.string()] * text_table.num_columns
    types = dict(zip(fast_table.column_names, fast_table.schema.types))
    assert [types[name] for name in ("x", "count", "small", "wide", "flag", "day", "stamp")] == [
        pa.float64(), pa.int64(), pa.int64(), pa.int64(), pa.bool_(), pa.date32(), pa.date32()]
    for name in ("when", "f32", "big", "row_id", "nothing", "colour", "y"):
        assert types[name] == pa.string(), name
    assert fast.schema == text.schema
    assert fast.feature_names == text.feature_names
    np.testing.assert_array_equal(fast.coded, text.coded)
    kinds = {column["name"]: column["kind"] for column in fast.schema["columns"]}
    assert (kinds["x"], kinds["flag"], kinds["day"], kinds["stamp"], kinds["when"], kinds["row_id"]) == (
        "numeric", "boolean", "datetime", "datetime", "datetime", "identifier")


@pytest.mark.parametrize("value, problem", [(np.inf, "is not a finite number"), (-np.inf, "is not a finite number")])
def test_an_infinite_parquet_float_is_refused_as_in_its_csv_twin(client, value, problem):
    buffer = io.BytesIO()
    pd.DataFrame({"a": [index / 4 for index in range(299)] + [value], "y": [0, 1] * 150}).to_parquet(buffer)
    [error] = errors_of(upload(client, buffer.getvalue(), filename="inf.parquet", target="y"))
    assert error["column"] == "a" and problem in error["detail"], error


def test_a_dataset_blob_is_zstd_and_blobs_written_before_still_read():
    features, targets = np.arange(12.0).reshape(4, 3), np.array([0, 1, 1, 0])
    blob, _ = encode_arrays(features, targets)
    assert blob[:4] == b"\x28\xb5\x2f\xfd"  # zstd's frame magic.
    for readable in (blob, deflated_npz(features, targets)):
        read_features, read_targets = decode_arrays(readable)
        np.testing.assert_array_equal(read_features, features)
        np.testing.assert_array_equal(read_targets, targets)


def deflated_npz(features: np.ndarray, targets: np.ndarray) -> bytes:
    """A dataset blob as Axon stored them before zstd: numpy's own compressed npz."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, features=features, targets=targets)
    return buffer.getvalue()
