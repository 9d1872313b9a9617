"""The per-tenant storage quota over HTTP on PostgreSQL: datasets up to it, a 409 problem past it
with nothing stored, room again after a delete, and no new job once the tenant is at its quota."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator

import httpx
from sqlalchemy import text

from service.app_state import app_state
from service import create_app
from service.auth import create_key

from tests.support.services import served

from .test_training import SPIRAL, submit, wait_for

DATASET = {"name": "spiral", "generator": {**SPIRAL, "n_samples": 200}}
# Each tenant's bytes as the database holds them, summed here without the service's own code.
STORED_BYTES = text("""
    SELECT (SELECT coalesce(sum(octet_length(data)), 0) FROM datasets WHERE tenant = :tenant)
         + (SELECT coalesce(sum(octet_length(artefact)), 0) FROM models WHERE tenant = :tenant)
         + (SELECT coalesce(sum(octet_length(c.data)), 0) FROM checkpoints c JOIN jobs j ON j.id = c.job_id
            WHERE j.tenant = :tenant)
""")


@contextmanager
def tenant_api(database_url: str, redis_url: str, home, quota_bytes: int, tenant: str) -> Iterator[httpx.Client]:
    """The API with ``quota_bytes`` on a real socket, and a client holding a key of ``tenant``."""
    app = create_app({"database_url": database_url, "broker_url": redis_url, "home": home,
                      "storage_quota_bytes": quota_bytes})
    try:
        key = create_key(app_state(app).engine, tenant)
        with served(app) as local_client, httpx.Client(base_url=local_client.base_url, timeout=30,
                                                       headers={"Authorization": f"Bearer {key}"}) as client:
            yield client
    finally:
        app_state(app).engine.dispose()


def stored(api_app, tenant: str) -> int:
    with app_state(api_app).engine.connect() as connection:
        return connection.execute(STORED_BYTES, {"tenant": tenant}).scalar_one()


def assert_quota_problem(response: httpx.Response) -> dict:
    assert response.status_code == 409, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["type"], problem["status"]) == ("urn:axon:problem:storage-quota", 409), problem
    assert "storage_quota_bytes" in problem["detail"]
    return problem


def test_datasets_fill_a_tenants_quota_and_a_delete_makes_room(api_app, database_url, redis_url, tmp_path):
    tenant = f"quota-{uuid.uuid4().hex[:8]}"
    with tenant_api(database_url, redis_url, tmp_path / "probe", 0, tenant) as unlimited:
        first = unlimited.post("/v1/datasets", json=DATASET)
        assert first.status_code == 201, first.text
    dataset_bytes = stored(api_app, tenant)  # The same generator and seed: every copy is this size.
    assert dataset_bytes > 1000

    with tenant_api(database_url, redis_url, tmp_path / "home", int(3.5 * dataset_bytes), tenant) as api:
        created = [api.post("/v1/datasets", json=DATASET) for _ in range(2)]
        assert [response.status_code for response in created] == [201, 201]
        assert stored(api_app, tenant) == 3 * dataset_bytes

        refused = api.post("/v1/datasets", json=DATASET)  # A fourth would pass 3.5.

        problem = assert_quota_problem(refused)
        assert f"stores {3 * dataset_bytes} bytes" in problem["detail"], problem
        assert stored(api_app, tenant) == 3 * dataset_bytes  # Nothing of it stored.
        assert len(api.get("/v1/datasets").json()["items"]) == 3
        assert api.delete(f"/v1/datasets/{created[0].json()['id']}").status_code == 204
        assert api.post("/v1/datasets", json=DATASET).status_code == 201
        assert stored(api_app, tenant) == 3 * dataset_bytes


def test_a_tenant_at_its_quota_gets_no_new_job(api, api_app, database_url, redis_url, tmp_path):
    tenant = f"quota-{uuid.uuid4().hex[:8]}"
    with tenant_api(database_url, redis_url, tmp_path / "probe", 0, tenant) as unlimited:
        dataset_id = unlimited.post("/v1/datasets", json=DATASET).json()["id"]
        job = wait_for(unlimited, submit(unlimited, dataset_id, epochs=3)["id"], {"succeeded", "failed"})
        assert job["status"] == "succeeded"
    used = stored(api_app, tenant)  # The dataset and the model (the checkpoint went with success).

    with tenant_api(database_url, redis_url, tmp_path / "full", used, tenant) as full:
        refused = full.post("/v1/jobs", json={"dataset_id": dataset_id, "spec": {"layers": [{"units": 4}]}})
        assert_quota_problem(refused)
        assert len(full.get("/v1/jobs").json()["items"]) == 1  # No job row was made.
    with tenant_api(database_url, redis_url, tmp_path / "room", used + 1, tenant) as roomy:
        accepted = roomy.post("/v1/jobs", json={"dataset_id": dataset_id, "spec": {"layers": [{"units": 4}],
                                                                                    "epochs": 2}})
        assert accepted.status_code == 202, accepted.text
        assert wait_for(roomy, accepted.json()["id"], {"succeeded", "failed"})["status"] == "succeeded"
