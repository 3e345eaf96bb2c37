"""The invariant monitor: overdue and past-cap recordings are noticed, logged and shown."""

from __future__ import annotations

import logging
from datetime import timedelta

from recordings import retention
from recordings.monitor import OVERDUE, PAST_CAP, check_invariants
from recordings.sweep import run_sweep
from tests.recordings import purge_support

# Shared fixtures of the retention-engine tests.
hold = purge_support.hold
stored_recording = purge_support.stored_recording
supervisor = purge_support.supervisor

INTERVAL = timedelta(minutes=5)
SECOND = timedelta(seconds=1)


def violations_at(database, policy, now):
    with database.session_factory() as session:
        return check_invariants(session, now=now, policy=policy, sweep_interval=INTERVAL)


def test_a_recording_is_overdue_only_after_two_sweep_intervals(database, policy, stored_recording):
    recording = stored_recording()
    assert violations_at(database, policy, recording.due_at) == []
    assert violations_at(database, policy, recording.due_at + 2 * INTERVAL) == []

    [violation] = violations_at(database, policy, recording.due_at + 2 * INTERVAL + SECOND)
    assert (violation.recording_public_id, violation.kind, violation.due_at) == (
        recording.public_id,
        OVERDUE,
        recording.due_at,
    )


def test_a_recording_past_its_cap_is_a_violation_at_once(
    database, policy, stored_recording, hold, clock
):
    recording = stored_recording()
    hold(recording, now=clock.now + timedelta(days=1))
    cap = retention.hold_cap(recording.recorded_at, policy)
    assert violations_at(database, policy, cap) == []
    [violation] = violations_at(database, policy, cap + SECOND)
    assert (violation.kind, violation.recording_public_id) == (PAST_CAP, recording.public_id)


def test_violations_are_logged_as_errors_with_ids_only(database, policy, stored_recording, caplog):
    recording = stored_recording()
    with caplog.at_level(logging.ERROR, logger="recordings.monitor"):
        violations_at(database, policy, recording.due_at + timedelta(days=1))
    [record] = [r for r in caplog.records if r.name == "recordings.monitor"]
    assert record.levelno == logging.ERROR
    assert recording.public_id in record.getMessage()


def test_a_purged_recording_is_no_violation(database, storage, policy, stored_recording):
    recording = stored_recording()
    later = recording.due_at + timedelta(days=1)
    run_sweep(database, storage, now=later, policy=policy)
    assert violations_at(database, policy, later) == []


BANNER = "overdue for deletion — the purge is not keeping up"


def test_the_banner_shows_to_supervisors_and_the_dpo_only(
    app, client, logged_in, stored_recording, clock, database, storage, policy
):
    recording = stored_recording()
    clock.set(recording.due_at + timedelta(hours=1))

    for role, sees in (("agent", False), ("admin", False), ("supervisor", True), ("dpo", True)):
        logged_in(role)
        text = client.get("/", follow_redirects=True).get_data(as_text=True)
        assert (BANNER in text) is sees, role
        assert ("1 recording is overdue" in text) is sees, role

    run_sweep(database, storage, now=clock.now, policy=policy)
    logged_in("supervisor")
    assert BANNER not in client.get("/", follow_redirects=True).get_data(as_text=True)
