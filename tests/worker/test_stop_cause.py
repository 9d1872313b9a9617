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
