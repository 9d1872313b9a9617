"""Schemathesis against the app's own OpenAPI document, in-process over WSGI.

Every operation gets schema-valid (positive) and schema-invalid (negative) requests, and every
response goes through every check: no 5xx, a documented status, content type and body, invalid
input refused with a 4xx, valid input not refused. Path parameters are often the ids of rows
seeded here, so the calls reach past the 404.
"""

from __future__ import annotations

import io

import hypothesis
import pandas as pd
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from sqlalchemy import update

from service.app_state import app_state
from service import create_app
from service.api import events
from service.auth import hash_key
from service.tables import LOCAL_TENANT, ApiKey, Dataset, EpochMetric, Sweep, TrainedModel

from tests.support import schemathesis_hooks
from tests.support.calls import spiral_dataset
from tests.support.rows import add_rows, insert_job
from tests.support.specs import SMALL_SPEC

# Enough to exercise each operation in both modes while the whole file stays well under a minute.
MAX_EXAMPLES = 40
# Fixed ids, so the strategies (built at collection) can name rows each test seeds afresh.
IDS = {"dataset_id": ["d" * 32], "job_id": ["a" * 32, "b" * 32], "model_id": ["c" * 32], "sweep_id": ["e" * 32]}
N_FEATURES = 3  # The seeded model's inputs: the ``classifier`` fixture's blobs.

# The key seeded_app stores; Schemathesis sends it where the document's security scheme says,
# and leaves it out or spoils it in negative cases, expecting a 401.
API_KEY = "axon_schemathesis-fixed-test-key-0000000000000000000"
CONFIG = SchemathesisConfig.from_dict({
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
    "auth": {"openapi": {"apiKey": {"bearer": API_KEY}}},
    "checks": {"enabled": True},
    "operations": [{"include-name": name, "checks": {"positive_data_acceptance": {
        "expected-statuses": schemathesis_hooks.ACCEPTED_REFUSALS}}}
        for name in schemathesis_hooks.SEMANTIC_REFUSALS],
})



def parquet_file(n_rows: int) -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"x": [index / 3 for index in range(n_rows)], "y": [index % 2 for index in range(n_rows)]}).to_parquet(buffer)
    return buffer.getvalue()


# Raw Parquet bodies: real files (query parameters decide whether they are taken) and damaged
# ones (a Parquet magic number, then anything).
schemathesis.openapi.media_type("application/vnd.apache.parquet", hypothesis.strategies.one_of(
    hypothesis.strategies.sampled_from([parquet_file(1), parquet_file(40)]),
    hypothesis.strategies.binary(max_size=200).map(lambda tail: b"PAR1" + tail)))

# The document is loaded from a bare app; nothing in it depends on the database.
schema = schemathesis.openapi.from_wsgi(
    "/openapi.json", create_app({"database_url": "sqlite://", "broker_url": "memory://"}), config=CONFIG)


# Often a real id, so the operation does its work instead of answering 404; a job or a sweep for
# the real dataset gets past the 404-like 422 to the spec checks; predict rows fit the seeded model's width.
schemathesis_hooks.register(schema.hook, IDS, n_features=N_FEATURES)


@pytest.fixture
def seeded_app(make_app, classifier):
    """An app whose database holds a dataset, a queued job on it, and a succeeded job with its model.

    Schemathesis sends wrong keys on purpose, and expects each a 401: none is throttled here.
    """
    app = make_app(auth_failure_limit="1000000/minute")
    created = spiral_dataset(app.test_client())
    with app_state(app).sessions() as session:
        session.execute(update(Dataset).where(Dataset.id == created["id"]).values(id=IDS["dataset_id"][0]))
        session.commit()
    succeeded_id, queued_id = IDS["job_id"]
    model = classifier.model
    # A running sweep whose first trial is the succeeded job.
    add_rows(app, Sweep(id=IDS["sweep_id"][0], tenant=LOCAL_TENANT, dataset_id=IDS["dataset_id"][0], spec=SMALL_SPEC,
                        space={"/l2": {"type": "choice", "values": [0.0, 0.1]}}, strategy="grid", n_trials=2,
                        objective_metric="loss", objective_mode="min", max_parallel=1, seed=0, status="running"))
    insert_job(app, IDS["dataset_id"][0], "succeeded", id=succeeded_id, sweep_id=IDS["sweep_id"][0], trial=0,
               sampled={"/l2": 0.0}, epoch=SMALL_SPEC["epochs"],
               model_id=IDS["model_id"][0], metrics={"epoch": 3, "loss": 0.5})
    insert_job(app, IDS["dataset_id"][0], "queued", id=queued_id)
    add_rows(app, ApiKey(tenant=LOCAL_TENANT, key_hash=hash_key(API_KEY), prefix=API_KEY[:12]))
    add_rows(app, TrainedModel(id=IDS["model_id"][0], tenant=LOCAL_TENANT, job_id=succeeded_id, task=model.task,
                               n_features=model.n_features, classes=model.classes, spec=model.meta["spec"],
                               metrics=model.metrics, evaluation=model.evaluation, artefact=model.to_bytes()),
             *(EpochMetric(job_id=succeeded_id, epoch=epoch, record={"epoch": epoch, "loss": 1.0 / epoch})
               for epoch in range(1, 4)))
    return app


@pytest.fixture
def short_event_streams(monkeypatch):
    # The seeded queued job never finishes, so its event stream would run for the full hour;
    # a short lifetime ends it as that bound would, and the route is still fuzzed like any other.
    monkeypatch.setattr(events, "STREAM_SECONDS", 0.05)
    monkeypatch.setattr(events, "POLL_SECONDS", 0.01)


@schema.parametrize()
@hypothesis.settings(deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
def test_api_conforms_to_its_document(case, seeded_app, short_event_streams):
    case.call_and_validate(app=seeded_app)
