"""Ingest rate of a CSV upload through POST /v1/datasets, next to pandas.read_csv of the same file
(and of its Parquet twin, next to pandas.read_parquet).

A table of mixed columns (numbers, numbers with missing cells, text categories, true/false, a
date) is written to a temporary file of about ``--megabytes`` MB. The upload goes through the
app in this process (Flask's test client, a fresh SQLite database, keys off), so the figure is
the server's work: reading the multipart body (or, in the "raw" row, the CSV sent as the body
itself), parsing, typing every column, coding, compressing and storing the blob; no network, and
the body is built once beforehand. pandas reads the same files in the same run; best of
``--repeats`` each.

    python bench/ingest.py [--megabytes 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

# This script's folder holds bench/service.py, which must not shadow the service package.
sys.path[:] = [entry for entry in sys.path if Path(entry).resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_table(path: Path, megabytes: float) -> int:
    """Write a mixed table of about ``megabytes`` MB to ``path`` as CSV, and its Parquet twin
    beside it (``path`` with the suffix ``.parquet``); returns its rows."""
    rng = np.random.default_rng(0)
    n_rows = int(megabytes * 1e6 / 62.4)  # About 62 bytes a row, measured on this table.
    frame = pd.DataFrame({
        "x0": rng.normal(size=n_rows).round(6), "x1": rng.normal(size=n_rows).round(6),
        "x2": np.where(rng.random(n_rows) < 0.05, np.nan, rng.normal(size=n_rows).round(4)),
        "count": rng.integers(0, 1000, n_rows),
        "colour": rng.choice(["red", "green", "blue", "amber"], n_rows),
        "city": rng.choice([f"city{index}" for index in range(40)], n_rows),
        "flag": rng.random(n_rows) < 0.5,
        "day": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n_rows), unit="D"),
        "label": rng.choice(["cat", "dog", "eel"], n_rows),
    })
    frame.to_csv(path, index=False)
    frame.to_parquet(path.with_suffix(".parquet"), index=False)
    return n_rows


BOUNDARY = "axonbenchboundary"


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()

    import migrations
    from service import create_app

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.csv"
        n_rows = write_table(path, options.megabytes)
        size = os.path.getsize(path)
        database = Path(folder) / "axon.db"
        migrations.upgrade(f"sqlite:///{database}")
        app = create_app({"database_url": f"sqlite:///{database}", "broker_url": "memory://", "auth": False,
                          "max_body_bytes": 2**30, "max_rows": 10**7, "storage_quota_bytes": 2**40})
        client = app.test_client()

        def multipart(file: Path, media_type: str) -> bytes:
            """The multipart body, built once: the test client's own encoding of it is not the server's work."""
            return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="target"\r\n\r\nlabel\r\n'
                    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{file.name}"\r\n'
                    f"Content-Type: {media_type}\r\n\r\n").encode() + file.read_bytes() + f"\r\n--{BOUNDARY}--\r\n".encode()

        def upload(body: bytes, content_type: str = f"multipart/form-data; boundary={BOUNDARY}",
                   query: str = "") -> None:
            response = client.post(f"/v1/datasets{query}", input_stream=io.BytesIO(body), content_length=len(body),
                                   content_type=content_type)
            assert response.status_code == 201, response.get_json()

        parquet = path.with_suffix(".parquet")
        csv_body, parquet_body = multipart(path, "text/csv"), multipart(parquet, "application/vnd.apache.parquet")
        parquet_size = os.path.getsize(parquet)
        pandas_seconds = best_of(options.repeats, lambda: pd.read_csv(path))
        upload_seconds = best_of(options.repeats, lambda: upload(csv_body))
        raw_csv = path.read_bytes()
        raw_seconds = best_of(options.repeats, lambda: upload(raw_csv, "text/csv", "?target=label"))
        pandas_parquet_seconds = best_of(options.repeats, lambda: pd.read_parquet(parquet))
        upload_parquet_seconds = best_of(options.repeats, lambda: upload(parquet_body))
    print(f"file: {size / 1e6:.1f} MB CSV ({parquet_size / 1e6:.1f} MB Parquet), {n_rows} rows, 9 columns "
          "(numbers, missing cells, text, true/false, a date)")
    for what, seconds in (("POST /v1/datasets", upload_seconds), ("POST raw text/csv", raw_seconds),
                          ("pandas.read_csv", pandas_seconds),
                          ("POST Parquet", upload_parquet_seconds), ("pandas.read_parquet", pandas_parquet_seconds)):
        print(f"{what:<20} {seconds:6.2f} s  {size / 1e6 / seconds:6.1f} MB/s of CSV  {n_rows / seconds:10.0f} rows/s")
    print(f"upload / read_csv: {upload_seconds / pandas_seconds:.2f} (raw body: {raw_seconds / pandas_seconds:.2f}); "
          f"Parquet upload / read_parquet: {upload_parquet_seconds / pandas_parquet_seconds:.2f}")


if __name__ == "__main__":
    main()
