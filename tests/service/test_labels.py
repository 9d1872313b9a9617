"""Class labels: bounded in length, and stored once each, never padded to the longest one per row."""

from __future__ import annotations

import tracemalloc

import numpy as np

from mlp import NetworkSpec, fit
from service.storage import encode_labels, training_targets

from tests.support.specs import SMALL_SPEC

from .test_datasets import csv_upload, errors_of, stored

FEATURES = [[0.0, 1.0], [1.0, 0.5], [2.0, 0.0], [3.0, 1.5]]


def test_a_json_label_over_max_label_length_is_422_naming_it(make_app):
    client = make_app(max_label_length=5).test_client()
    body = {"features": FEATURES, "targets": ["short", "longer", "short", "a"]}
    [error] = errors_of(client.post("/v1/datasets", json=body))
    assert error["pointer"] == "/targets/1"
    assert "6 characters" in error["detail"] and "max_label_length" in error["detail"]
    body["targets"][1] = "fives"
    assert client.post("/v1/datasets", json=body).status_code == 201


def test_a_csv_label_over_max_label_length_is_422_naming_line_and_column(make_app):
    client = make_app(max_label_length=5).test_client()
    [error] = errors_of(csv_upload(client, "a,kind\n1,short\n2,longer\n3,short\n", target="kind"))
    assert (error["field"], error["row"], error["column"]) == ("file", 3, "kind")
    assert "max_label_length" in error["detail"]


def test_one_long_label_costs_its_length_once_not_once_per_row(make_app):
    """300 rows, one label of 131,000 characters: a fixed-width array of the labels alone would be
    300 x 131,000 x 4 bytes = 157 MB; stored once, it is well under a megabyte."""
    long_label = "x" * 131_000
    client = make_app(max_label_length=200_000).test_client()
    text = "a,kind\n" + "".join(f"{row},{long_label if row == 0 else 'short'}\n" for row in range(300))
    tracemalloc.start()
    try:
        response = csv_upload(client, text, target="kind")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["classes"] == ["short", long_label]
    assert peak < 20 * 2**20, f"the upload peaked at {peak / 2**20:.0f} MiB"


def test_json_and_csv_labels_make_the_same_dataset(client, app):
    labels = ["dog", "cat", "eel", "cat"]
    from_json = client.post("/v1/datasets", json={"features": FEATURES, "targets": labels}).get_json()
    text = "a,b,kind\n" + "".join(f"{a},{b},{label}\n" for (a, b), label in zip(FEATURES, labels))
    from_csv = csv_upload(client, text, target="kind").get_json()
    assert from_json["classes"] == from_csv["classes"] == ["cat", "dog", "eel"]
    assert stored(app, from_json["id"])[2].tolist() == stored(app, from_csv["id"])[2].tolist() == [1, 0, 2, 0]


def test_labels_encode_as_numpy_orders_them():
    labels = ["b", "Z", "a", "é", "b", "10", "9"]
    encoded = encode_labels(labels)
    expected_classes, expected_indices = np.unique(np.asarray(labels), return_inverse=True)
    assert encoded.classes == expected_classes.tolist()
    assert encoded.indices.dtype == np.int64 and encoded.indices.tolist() == expected_indices.tolist()


def test_training_targets_train_exactly_as_the_labels_do():
    """The worker's variable-width labels fit bit-identically to a plain list of the same labels."""
    rng = np.random.default_rng(0)
    classes = ["a" * 1000, "b", "c"]
    indices = rng.integers(0, 3, size=90)
    features = rng.normal(size=(90, 2)) + indices[:, None]
    targets = training_targets(indices, classes)
    assert targets.nbytes < 90 * 1000  # A fixed-width array would be 90 x 1000 x 4 bytes.
    spec = NetworkSpec.model_validate(SMALL_SPEC)
    from_worker = fit(spec, features, targets)
    from_labels = fit(spec, features, [classes[index] for index in indices])
    assert from_worker.model.classes == from_labels.model.classes == sorted(classes)
    assert from_worker.history == [
        {**record, "seconds": worker["seconds"]} for record, worker in zip(from_labels.history, from_worker.history)
    ]
