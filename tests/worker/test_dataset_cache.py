"""The worker's dataset cache: a second job on a dataset trains on the same arrays without reading its blob."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import event

from mlp import Model
from worker.dataset_cache import DATASETS, DatasetCache
from worker.runner import Outcome, run_job

from tests.support.rows import add_dataset, add_job, model_rows


def arrays(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    return np.ones((n_rows, 4)), np.zeros(n_rows, np.int64)  # 32 + 8 bytes a row.


def test_the_least_recently_used_dataset_goes_first_past_the_budget():
    cache = DatasetCache(max_bytes=100 * 40)
    cache.put("a", *arrays(50))
    cache.put("b", *arrays(40))
    assert cache.get("a") is not None  # Now "b" is the least recently used.
    cache.put("c", *arrays(20))
    assert (cache.get("a") is not None, cache.get("b"), cache.get("c") is not None) == (True, None, True)
    features, _ = cache.put("huge", *arrays(101))  # Past the whole budget: handed back, not kept.
    assert cache.get("huge") is None and features.shape == (101, 4)


def test_shrinking_the_budget_drops_the_oldest_and_zero_keeps_nothing():
    cache = DatasetCache(max_bytes=100 * 40)
    cache.put("a", *arrays(40))
    cache.put("b", *arrays(40))
    cache.resize(50 * 40)
    assert (cache.get("a"), cache.get("b") is not None) == (None, True)
    cache.resize(0)
    cache.put("c", *arrays(1))
    assert len(cache) == 0


def test_cached_arrays_cannot_be_written():
    features, targets = DatasetCache().put("a", *arrays(3))
    with pytest.raises(ValueError):
        features[0, 0] = 2.0
    with pytest.raises(ValueError):
        targets[0] = 1


def blob_reads(engine) -> list[str]:
    """Every statement that selects a dataset's blob, as the engine runs it."""
    reads = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany):
        if "datasets.data" in statement:
            reads.append(statement)

    return reads


def test_a_second_job_on_a_dataset_reads_no_blob_and_trains_the_same_model(engine):
    DATASETS.clear()
    dataset_id = add_dataset(engine)
    first, second = add_job(engine, dataset_id), add_job(engine, dataset_id)
    reads = blob_reads(engine)

    assert run_job(first) == Outcome.SUCCEEDED
    assert len(reads) == 1
    assert run_job(second) == Outcome.SUCCEEDED
    assert len(reads) == 1  # The second job's arrays came from the cache.

    [first_model], [second_model] = model_rows(engine, first), model_rows(engine, second)
    assert np.array_equal(Model.from_bytes(first_model.artefact).params, Model.from_bytes(second_model.artefact).params)

