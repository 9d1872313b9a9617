"""The job state machine's table walked on SQLite and PostgreSQL, migrated as in production: every
move performs from each of its source statuses and is refused from every other one, each built by
the same job_states builder the service or the worker calls; the CHECK constraint refuses a status
outside the table."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from axon import client
from service import job_states
from service.database import make_engine, utcnow
from service.job_states import ALLOWED, CANCEL_MOVES, MOVES, STATUSES, By, Phase
from service.tables import LOCAL_TENANT, Job, new_id
from tests.support.databases import postgres_database, sqlite_database

jobs = Job.__table__
LEASE_SECONDS = 30.0
TOKEN = "t" * 32


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request, tmp_path_factory):
    if request.param == "sqlite":
        database = sqlite_database(tmp_path_factory.mktemp("states"))
    else:
        database = postgres_database("axon_job_states")
    with database as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def add_job(engine, status: str, heartbeat_age: timedelta = timedelta(days=1), lease_token: str = TOKEN) -> str:
    """A job in ``status``; by default every move's guard but the status holds (stale heartbeat, TOKEN's lease)."""
    job_id = new_id()
    with engine.begin() as connection:
        connection.execute(insert(jobs).values(
            id=job_id, tenant=LOCAL_TENANT, spec={}, status=status, epochs=1, lease_token=lease_token,
            heartbeat_at=utcnow() - heartbeat_age, published_at=utcnow(), created_at=utcnow()))
    return job_id


def statements(name: str, job_id: str) -> list:
    """Move ``name``'s UPDATEs on ``job_id``, each built as its maker builds it (the service's: one
    per status it may have read)."""
    move, now = MOVES[name], utcnow()
    if move.by is By.ANY_WORKER:
        return [job_states.claim(jobs.c.id == job_id, now, LEASE_SECONDS).values(lease_token="n" * 32)]
    if move.by is By.SERVICE:
        return [job_states.by_service(name, job_id, status_read) for status_read in move.sources]
    if move.by is By.LEASE_HOLDER:
        return [job_states.by_lease_holder(name, job_id, TOKEN)]
    # The reconciler's UPDATE takes every abandoned job at once; here only this one is in play.
    return [job_states.by_reconciler(name, now, LEASE_SECONDS).where(jobs.c.id == job_id)]


def read(engine, job_id: str):
    with engine.connect() as connection:
        return connection.execute(select(jobs).where(jobs.c.id == job_id)).one()


def perform(engine, name: str, status: str):
    """Move ``name`` on a fresh job in ``status``: whether it matched, and the row afterwards."""
    job_id = add_job(engine, status)
    matched = False
    for statement in statements(name, job_id):
        with engine.begin() as connection:
            matched = matched or connection.execute(statement).rowcount == 1
    return matched, read(engine, job_id)


@pytest.mark.parametrize("source", list(STATUSES))
@pytest.mark.parametrize("target", list(STATUSES))
def test_every_allowed_move_performs_and_every_other_is_refused(engine, source, target):
    performed = []
    for name in [name for name, move in MOVES.items() if move.target == target]:
        matched, row = perform(engine, name, source)
        assert matched == (source in MOVES[name].sources), name
        if not matched:
            assert (row.status, row.lease_token, row.finished_at) == (source, TOKEN, None), name
            continue
        performed.append(name)
        phase = STATUSES[target]
        assert row.status == target
        assert (row.finished_at is not None) == (phase is Phase.FINISHED)
        assert (row.lease_token is None) == (phase is not Phase.HELD)
        assert (row.published_at is None) == (phase is Phase.WAITING)
    assert bool(performed) == ((source, target) in ALLOWED)


def test_the_rest_of_each_where_clause_refuses_a_job_in_a_source_status(engine):
    """Status alone is not enough: a live lease, another lease, a status read before it changed."""
    live = timedelta(seconds=1)
    taken = add_job(engine, "running", heartbeat_age=live)  # Its worker is alive.
    other = add_job(engine, "running", lease_token="o" * 32)  # Another worker's lease.
    changed = add_job(engine, "running")  # The service read it while it was queued.
    watched = add_job(engine, "cancelling", heartbeat_age=live)  # Its worker will notice the cancel.
    now = utcnow()
    refusals = [
        job_states.claim(jobs.c.id == taken, now, LEASE_SECONDS).values(lease_token="n" * 32),
        job_states.by_lease_holder("succeed", other, TOKEN),
        job_states.by_service("cancel_queued", changed, "queued"),
        job_states.by_reconciler("abandon", now, LEASE_SECONDS).where(jobs.c.id == watched),
    ]
    with engine.begin() as connection:
        assert [connection.execute(statement).rowcount for statement in refusals] == [0, 0, 0, 0]
    assert [read(engine, job_id).status for job_id in (taken, other, changed, watched)] == [
        "running", "running", "running", "cancelling"]


def test_the_check_constraint_refuses_a_status_outside_the_table(engine):
    with pytest.raises(IntegrityError, match="ck_jobs_status|CHECK constraint failed"):
        add_job(engine, "paused")


def test_a_move_is_built_only_by_its_maker_and_from_its_sources():
    with pytest.raises(ValueError, match="made by the lease holder"):
        job_states.by_service("succeed", "j" * 32, "running")
    with pytest.raises(ValueError, match="does not start from 'running'"):
        job_states.by_service("cancel_queued", "j" * 32, "running")


def test_the_table_is_closed_finished_is_final_and_every_status_is_reachable():
    assert all(move.target in STATUSES and set(move.sources) <= set(STATUSES) for move in MOVES.values())
    assert not [pair for pair in ALLOWED if STATUSES[pair[0]] is Phase.FINISHED]
    assert {target for _, target in ALLOWED} | {"queued"} == set(STATUSES)
    # A cancel moves every active status but the one already on its way.
    active = {status for status, phase in STATUSES.items() if phase is not Phase.FINISHED}
    assert active == {*CANCEL_MOVES, "cancelling"}
    assert all(MOVES[name].by is By.SERVICE and status in MOVES[name].sources for status, name in CANCEL_MOVES.items())


def test_the_client_and_the_dashboard_wait_for_the_tables_finished_statuses():
    """The CLI client and the dashboard cannot import the service, so each keeps its own copy of
    the final statuses: a status added to the table without them would leave them waiting forever."""
    finished = {status for status, phase in STATUSES.items() if phase is Phase.FINISHED}
    assert client.FINISHED == finished
    script = (Path(__file__).parents[2] / "service/static/js/format.js").read_text()
    [listed] = re.findall(r"export const FINISHED = new Set\(\[([^\]]*)\]\)", script)
    assert set(re.findall(r'"([a-z]+)"', listed)) == finished
