"""Why the epoch callback stops a job, from what the epoch's fenced update returned: one cause,
the documented precedence (the end-to-end paths are in test_runner and test_hand_back)."""

import pytest

from worker.persist import StopCause, stop_cause


@pytest.mark.parametrize("status, handed_back, timed_out, cause", [
    ("running", False, False, None),
    ("running", True, False, StopCause.HANDED_BACK),
    ("running", False, True, StopCause.TIMED_OUT),
    ("running", True, True, StopCause.HANDED_BACK),  # Handed back with its checkpoint; the next worker judges time.
    ("cancelling", False, False, StopCause.CANCEL_REQUESTED),
    ("cancelling", False, True, StopCause.CANCEL_REQUESTED),  # Asked to end: cancelled, not failed.
    (None, False, False, StopCause.LEASE_LOST),
    (None, False, True, StopCause.LEASE_LOST),  # Not ours any more: nothing to write, not even a failure.
])
def test_one_cause_per_epoch_in_the_documented_precedence(status, handed_back, timed_out, cause):
    assert stop_cause(status, handed_back, timed_out) is cause


def test_a_trial_pruned_after_a_cancel_landed_ends_cancelled_and_one_still_running_ends_pruned(engine):
    """The prune move is only from running: a cancel that landed after the epoch's write wins."""
    from sqlalchemy import select, update

    import mlp
    from service.tables import Job
    from tests.support.rows import add_dataset, add_job
    from worker.claim import claim_job
    from worker.runner import Outcome, write_outcome

    # The prune path reads only the epoch reached from the fit's result.
    result = mlp.FitResult(model=None, history=[{"epoch": 3}], stop_reason=None, best_epoch=None, checkpoint=None)
    dataset_id = add_dataset(engine)
    ends = {}
    for cancelled_first in (False, True):
        job_id = add_job(engine, dataset_id)
        with engine.connect() as connection:
            with connection.begin():
                claim = claim_job(connection, job_id, lease_seconds=60)
            if cancelled_first:
                with connection.begin():
                    connection.execute(update(Job.__table__).where(Job.id == job_id).values(status="cancelling"))
            outcome = write_outcome(connection, claim, StopCause.PRUNED, result, 1.0, None)
            status = connection.execute(select(Job.status).where(Job.id == job_id)).scalar_one()
        ends[cancelled_first] = (outcome, status)
    assert ends == {False: (Outcome.PRUNED, "pruned"), True: (Outcome.CANCELLED, "cancelled")}
