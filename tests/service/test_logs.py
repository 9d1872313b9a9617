"""JSON log lines with the job and request ids, the access log, and X-Request-ID on every response."""

from __future__ import annotations

import io
import logging
import re
import secrets

import pytest

from service.access import REQUEST_ID_HEADER
from service.logs import ContextFilter, init_logging, job_context, make_handler
from service.settings import Settings

from tests.support.rows import insert_job


def access_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "axon.access"]


def test_a_job_route_logs_an_access_line_with_the_job_and_the_given_request_id(app, client, json_log):
    job = insert_job(app, None, "running")

    response = client.get(f"/v1/jobs/{job.id}", headers={REQUEST_ID_HEADER: "edge-proxy:42"})

    assert response.status_code == 200
    assert response.headers[REQUEST_ID_HEADER] == "edge-proxy:42"
    [line] = access_lines(json_log())
    assert line["level"] == "INFO"
    assert (line["method"], line["path"], line["status"]) == ("GET", f"/v1/jobs/{job.id}", 200)
    assert (line["job_id"], line["request_id"]) == (job.id, "edge-proxy:42")
    assert line["duration_ms"] >= 0
    assert line["client"] == "127.0.0.1"  # The test client's address.
    assert line["message"].startswith(f"127.0.0.1 GET /v1/jobs/{job.id} 200 ")


def test_a_request_without_an_id_gets_a_new_one_in_header_and_log(client, json_log):
    first = client.get("/v1/jobs")
    second = client.get("/v1/jobs")

    ids = [response.headers[REQUEST_ID_HEADER] for response in (first, second)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)
    assert ids[0] != ids[1]
    assert [line["request_id"] for line in access_lines(json_log())] == ids
    assert all("job_id" not in line for line in json_log())  # /v1/jobs names no job.


@pytest.mark.parametrize("given", ["x" * 129, "two words", "caf\u00e9", ""])
def test_an_unfit_request_id_is_replaced(client, given):
    response = client.get("/healthz", headers={REQUEST_ID_HEADER: given.encode("utf-8").decode("latin-1")})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers[REQUEST_ID_HEADER])


def test_problem_responses_carry_the_request_id(app, client, json_log):
    @app.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    answers = {
        404: client.get("/v1/jobs/" + "f" * 32, headers={REQUEST_ID_HEADER: "r-404"}),
        415: client.post("/v1/jobs", data="x", content_type="text/plain", headers={REQUEST_ID_HEADER: "r-415"}),
        500: client.get("/boom", headers={REQUEST_ID_HEADER: "r-500"}),
    }

    for status, response in answers.items():
        assert response.status_code == status
        assert response.mimetype == "application/problem+json"
        assert response.headers[REQUEST_ID_HEADER] == f"r-{status}"
    # The traceback of the bug is logged under the request's id, as JSON like every other line.
    [bug] = [line for line in json_log() if line["level"] == "ERROR"]
    assert bug["request_id"] == "r-500" and "RuntimeError: a bug" in bug["exception"]
    assert {line["status"] for line in access_lines(json_log())} == {404, 415, 500}


def test_an_unauthenticated_request_still_gets_an_id_and_an_access_line(client, json_log):
    client.environ_base.pop("HTTP_AUTHORIZATION")
    response = client.get("/v1/jobs", headers={REQUEST_ID_HEADER: "no-key"})
    assert response.status_code == 401
    assert response.headers[REQUEST_ID_HEADER] == "no-key"
    [line] = access_lines(json_log())
    assert (line["status"], line["request_id"]) == (401, "no-key")


def test_no_api_key_reaches_the_log_even_at_debug(app, client, json_log):
    logging.getLogger().setLevel(logging.DEBUG)  # The most any deployment would log.
    valid = app.config["AXON_TEST_KEY"]  # The key the test client sends.
    wrong = "axon_" + secrets.token_urlsafe(32)

    accepted = client.get("/v1/jobs", headers={REQUEST_ID_HEADER: "valid-key"})
    refused = client.get("/v1/jobs", headers={REQUEST_ID_HEADER: "wrong-key", "Authorization": f"Bearer {wrong}"})

    assert (accepted.status_code, refused.status_code) == (200, 401)
    lines = json_log()
    assert [(line["request_id"], line["status"]) for line in access_lines(lines)] == [("valid-key", 200),
                                                                                      ("wrong-key", 401)]
    for key in (valid, wrong):
        assert key not in json_log.text()
        assert key[len("axon_"):] not in json_log.text()  # Nor the secret part alone, in any field.


def test_lines_logged_in_a_job_context_name_the_job(json_log):
    log = logging.getLogger("worker.runner")
    with job_context("job-1"):
        log.info("training from epoch %d", 3)
    log.info("between jobs")

    inside, outside = json_log()
    assert (inside["message"], inside["job_id"], inside["logger"]) == ("training from epoch 3", "job-1", "worker.runner")
    assert "job_id" not in outside and "request_id" not in outside


def test_text_lines_are_plain():
    stream = io.StringIO()
    handler = make_handler("text", stream)
    record = logging.makeLogRecord({"name": "axon.access", "levelno": logging.INFO, "levelname": "INFO",
                                    "msg": "GET / %d", "args": (200,)})
    handler.handle(record)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO axon.access: GET / 200\n", stream.getvalue())


def test_init_logging_leaves_logging_that_someone_else_configured_alone():
    root = logging.getLogger()
    foreign = logging.NullHandler()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = [foreign]
    try:
        init_logging(Settings(log_format="json", log_level="DEBUG"))
        assert root.handlers == [foreign]

        root.handlers[:] = []
        init_logging(Settings(log_format="json", log_level="DEBUG"))
        init_logging(Settings(log_format="json", log_level="WARNING"))  # A second app replaces, not adds.
        [ours] = root.handlers
        assert any(isinstance(item, ContextFilter) for item in ours.filters)
        assert root.level == logging.WARNING
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
