"""API keys: 401 without a live key, public routes without one, and auth off meaning tenant "local"."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from service.app_state import app_state
from service.auth import create_key, hash_key, issue_key, list_keys, revoke_key
from service.tables import ApiKey

from tests.support.calls import spiral_dataset


def without_key(app):
    client = app.test_client()
    del client.environ_base["HTTP_AUTHORIZATION"]
    return client


def with_key(app, key: str):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def assert_unauthorized(response, detail_fragment: str) -> None:
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert detail_fragment in response.get_json()["detail"]
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="axon"')


def test_a_request_without_a_key_is_401(app):
    assert_unauthorized(without_key(app).get("/v1/datasets"), "an API key is required")


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "axon_something"])
def test_a_malformed_authorization_header_is_401(app, header):
    client = without_key(app)
    response = client.get("/v1/jobs", headers={"Authorization": header})
    assert_unauthorized(response, "Bearer <key>")
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def test_an_unknown_key_is_401(app):
    response = with_key(app, "axon_" + "x" * 43).get("/v1/jobs")
    assert_unauthorized(response, "unknown or revoked")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_revoked_key_is_401_and_other_keys_still_work(make_app):
    app = make_app(key_cache_seconds=0)  # Every request reads the key: revocation shows at once.
    engine = app_state(app).engine
    doomed, kept = issue_key(engine, "acme"), issue_key(engine, "acme")
    assert with_key(app, doomed.key).get("/v1/jobs").status_code == 200

    assert revoke_key(engine, doomed.id)

    assert_unauthorized(with_key(app, doomed.key).get("/v1/jobs"), "unknown or revoked")
    assert with_key(app, kept.key).get("/v1/jobs").status_code == 200
    assert not revoke_key(engine, doomed.id)  # Already revoked: nothing left to revoke.


def test_a_key_can_be_revoked_by_the_key_itself(app):
    engine = app_state(app).engine
    key = create_key(engine, "acme")
    assert revoke_key(engine, key)
    assert_unauthorized(with_key(app, key).get("/v1/jobs"), "unknown or revoked")


def test_a_revoked_key_keeps_working_in_a_process_only_for_key_cache_seconds(make_app):
    app = make_app(key_cache_seconds=5)
    now = [0.0]
    app_state(app).key_cache.clock = lambda: now[0]
    engine = app_state(app).engine
    issued = issue_key(engine, "acme")
    client = with_key(app, issued.key)
    assert client.get("/v1/jobs").status_code == 200  # Found live: remembered for 5 s.
    revoke_key(engine, issued.id)

    now[0] = 4.9
    assert client.get("/v1/jobs").status_code == 200
    now[0] = 5.0
    assert_unauthorized(client.get("/v1/jobs"), "unknown or revoked")


def statements(engine) -> list[str]:
    """The SQL statements run on ``engine`` from now on (a list that grows)."""
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_wrong_keys_from_one_address_are_throttled_without_reading_the_database(make_app):
    app = make_app(auth_failure_limit="5/minute", key_cache_seconds=60)
    engine = app_state(app).engine
    good = create_key(engine, "acme")
    guesser = {"REMOTE_ADDR": "203.0.113.7"}
    client = app.test_client()
    assert with_key(app, good).get("/v1/jobs", environ_base=guesser).status_code == 200  # Now remembered.

    for attempt in range(5):
        response = client.get("/v1/jobs", headers={"Authorization": f"Bearer axon_wrong{attempt}"},
                              environ_base=guesser)
        assert response.status_code == 401
    executed = statements(engine)
    throttled = client.get("/v1/jobs", headers={"Authorization": "Bearer axon_wrong5"}, environ_base=guesser)

    assert throttled.status_code == 429 and throttled.mimetype == "application/problem+json"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert "203.0.113.7" in throttled.get_json()["detail"]
    assert executed == []  # Refused before any key lookup.
    # Another address still gets its answer; a key already found live still works from the throttled one.
    other = client.get("/v1/jobs", headers={"Authorization": "Bearer axon_wrong"},
                       environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert other.status_code == 401
    assert with_key(app, good).get("/v1/jobs", environ_base=guesser).status_code == 200


def test_missing_keys_are_not_counted_as_wrong_ones(make_app):
    """A dashboard asks without a key before one is pasted: that is no guess."""
    app = make_app(auth_failure_limit="2/minute")
    client = without_key(app)
    assert [client.get("/v1/jobs").status_code for _ in range(5)] == [401] * 5


def test_only_the_hash_of_a_key_is_stored(app):
    engine = app_state(app).engine
    issued = issue_key(engine, "acme")
    with app_state(app).sessions() as session:
        row = session.get(ApiKey, issued.id)
    assert row.key_hash == hash_key(issued.key) != issued.key
    assert issued.key not in {str(value) for value in row.__dict__.values()}
    assert len(issued.key) >= len("axon_") + 43  # 256 random bits in URL-safe base64.
    assert [(key.id, key.prefix) for key in list_keys(engine, "acme")] == [(issued.id, issued.key[:12])]


@pytest.mark.parametrize("tenant", ["", "-leading-dash", "has space", "x" * 65, "a/b"])
def test_a_bad_tenant_name_is_refused(app, tenant):
    with pytest.raises(ValueError, match="tenant name"):
        issue_key(app_state(app).engine, tenant)


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json", "/docs/swagger"])
def test_health_and_documentation_need_no_key(app, path):
    assert without_key(app).get(path).status_code == 200


def test_the_document_declares_the_bearer_scheme_on_every_v1_operation(client):
    document = client.get("/openapi.json").get_json()
    assert document["components"]["securitySchemes"]["apiKey"] == {
        **document["components"]["securitySchemes"]["apiKey"], "type": "http", "scheme": "bearer"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            secured = operation.get("security") == [{"apiKey": []}]
            assert secured == path.startswith("/v1/"), (method, path)
            if secured:
                assert {"401", "429"} <= set(operation["responses"]), (method, path)


def test_with_auth_off_no_key_is_needed_and_everything_is_tenant_local(make_app):
    app = make_app(auth=False)
    client = without_key(app)
    dataset = spiral_dataset(client)
    assert client.get(f"/v1/datasets/{dataset['id']}").status_code == 200
    # The same rows are tenant "local": a key for "local" sees them once auth is on again.
    local_key = create_key(app_state(app).engine, "local")
    app_with_auth = make_app(database_url=app_state(app).settings.database_url)
    assert with_key(app_with_auth, local_key).get(f"/v1/datasets/{dataset['id']}").status_code == 200
    assert with_key(app_with_auth, create_key(app_state(app).engine, "other")) \
        .get(f"/v1/datasets/{dataset['id']}").status_code == 404


def test_with_the_database_down_a_request_is_503_not_500(make_app, tmp_path):
    app = make_app(database_url=f"sqlite:///{tmp_path}/missing/dir/axon.db")
    response = with_key(app, "axon_" + "k" * 43).get("/v1/jobs")
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert response.get_json()["errors"] == [{"component": "database", "detail": "unavailable"}]
    assert int(response.headers["Retry-After"]) >= 1


def test_a_postgresql_server_that_refuses_connections_is_503(make_app):
    app = make_app(database_url="postgresql+psycopg://postgres@127.0.0.1:1/axon")
    response = with_key(app, "axon_" + "k" * 43).get("/v1/jobs")
    assert response.status_code == 503 and response.get_json()["errors"][0]["component"] == "database"


def test_a_database_without_the_schema_is_a_500_bug_not_a_503(make_app, tmp_path):
    app = make_app(database_url=f"sqlite:///{tmp_path}/empty.db")  # Never migrated: no tables.
    response = with_key(app, "axon_" + "k" * 43).get("/v1/jobs")
    assert response.status_code == 500 and response.mimetype == "application/problem+json"
