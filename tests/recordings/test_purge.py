"""The purge state machine and the sweep: active → purging → purged, exactly when due."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.db import Database
from cs_register.errors import Conflict
from cs_register.staff.models import StaffUser
from recordings import holds, retention, services
from recordings.models import (
    HoldReason,
    PurgeReceipt,
    Recording,
    RecordingHold,
    RecordingState,
)
from recordings.purge import Deadline, purge_recording
from recordings.retention import HoldPeriod, RetentionPolicy
from recordings.storage import LocalStorage
from recordings.sweep import SweepOutOfTime, find_recordings_due_for_purge, run_sweep
from tests.recordings import purge_support
from tests.support.context import make_context

# Shared fixtures of the retention-engine tests.
fresh = purge_support.fresh
hold = purge_support.hold
receipts = purge_support.receipts
stored_recording = purge_support.stored_recording
supervisor = purge_support.supervisor

SECOND = timedelta(seconds=1)


def purge(
    database: Database,
    storage: LocalStorage,
    policy: RetentionPolicy,
    recording: Any,
    now: datetime,
    job_id: str | None = "job-1",
) -> Any:
    return purge_recording(
        database, storage, recording_id=recording.id, now=now, policy=policy, job_id=job_id
    )


def test_a_due_recording_becomes_a_tombstone_with_one_receipt(
    database, storage, policy, stored_recording, receipts, fresh, audit_rows
):
    recording = stored_recording(playback=True)
    outcome = purge(database, storage, policy, recording, recording.due_at)

    assert (outcome.result, outcome.reason) == ("purged", "retention_expired")
    tombstone = fresh(recording.id)
    assert tombstone.state is RecordingState.PURGED
    assert (tombstone.storage_key, tombstone.playback_key) == (None, None)
    assert tombstone.purged_at == recording.due_at
    assert tombstone.purge_reason == "retention_expired"
    # Proof of what existed stays: ids, times, digest, size, codec.
    assert (tombstone.public_id, tombstone.sha256, tombstone.size_bytes, tombstone.codec) == (
        recording.public_id,
        recording.sha256,
        recording.size_bytes,
        recording.codec,
    )
    assert list(storage.iter_keys()) == []
    [receipt] = receipts()
    assert receipt.recording_id == recording.id
    assert receipt.recording_public_id == recording.public_id
    assert receipt.audio_sha256 == recording.sha256
    assert receipt.reason.value == "retention_expired"
    assert receipt.job_id == "job-1"
    assert receipt.retain_until == recording.due_at
    assert receipt.cap == retention.hold_cap(recording.recorded_at, policy)
    [event] = audit_rows(AuditAction.RECORDING_PURGED, subject_id=recording.public_id)
    assert (event.actor_id, event.actor_label) == (None, "job:job-1")


def test_purging_twice_is_harmless(
    database, storage, policy, stored_recording, receipts, audit_rows
):
    recording = stored_recording()
    assert purge(database, storage, policy, recording, recording.due_at).result == "purged"
    again = purge(database, storage, policy, recording, recording.due_at + SECOND)
    assert again.result == "already_purged"
    assert len(receipts()) == 1
    assert len(audit_rows(AuditAction.RECORDING_PURGED)) == 1


def test_a_recording_left_purging_by_a_crash_is_resumed(
    database, storage, policy, stored_recording, receipts, fresh
):
    recording = stored_recording()
    # The crash came after transaction 1 and after the file was deleted.
    with database.unit_of_work() as session:
        session.get(Recording, recording.id).state = RecordingState.PURGING
    storage.delete(recording.storage_key)

    outcome = purge(database, storage, policy, recording, recording.due_at + timedelta(hours=1))
    assert outcome.result == "purged"
    assert fresh(recording.id).state is RecordingState.PURGED
    assert len(receipts()) == 1


def test_an_already_missing_file_counts_as_deleted(
    database, storage, policy, stored_recording, receipts, fresh
):
    recording = stored_recording()
    storage.delete(recording.storage_key)
    assert purge(database, storage, policy, recording, recording.due_at).result == "purged"
    assert fresh(recording.id).state is RecordingState.PURGED
    assert len(receipts()) == 1


def test_one_second_before_due_the_recording_is_kept_and_at_due_it_is_purged(
    database, storage, policy, stored_recording, receipts, fresh
):
    recording = stored_recording()
    early = purge(database, storage, policy, recording, recording.due_at - SECOND)
    assert early.result == "kept"
    assert fresh(recording.id).state is RecordingState.ACTIVE
    assert storage.exists(recording.storage_key)
    assert receipts() == []

    assert purge(database, storage, policy, recording, recording.due_at).result == "purged"


def test_a_hold_placed_after_the_sweep_selected_the_recording_wins(
    database, storage, policy, stored_recording, hold, receipts, fresh
):
    recording = stored_recording()
    with database.session_factory() as session:
        selected = find_recordings_due_for_purge(session, now=recording.due_at, limit=10)
    assert selected == [recording.id]
    placed = hold(recording, now=recording.due_at - SECOND)

    outcome = purge(database, storage, policy, recording, recording.due_at)
    assert outcome.result == "kept"
    assert outcome.due_at == placed.ends_at
    assert fresh(recording.id).due_at == placed.ends_at
    assert storage.exists(recording.storage_key)
    assert receipts() == []


def test_a_hold_to_the_cap_ends_with_reason_hold_cap_reached(
    database, storage, policy, stored_recording, hold, receipts, clock
):
    recording = stored_recording()
    hold(recording, now=clock.now + timedelta(days=10))
    cap = retention.hold_cap(recording.recorded_at, policy)
    assert purge(database, storage, policy, recording, cap - SECOND).result == "kept"

    outcome = purge(database, storage, policy, recording, cap)
    assert (outcome.result, outcome.reason) == ("purged", "hold_cap_reached")
    assert receipts()[0].reason.value == "hold_cap_reached"


def test_a_hold_placed_while_purging_gets_a_conflict(
    database, storage, policy, stored_recording, hold
):
    recording = stored_recording()
    with database.unit_of_work() as session:
        session.get(Recording, recording.id).state = RecordingState.PURGING
    with pytest.raises(Conflict):
        hold(recording, now=recording.due_at - timedelta(days=1))


def test_the_due_query_uses_the_state_due_at_index(database, clock):
    with database.session_factory() as session:
        dialect = session.get_bind().dialect.name
        statement = (
            sa.select(Recording.id)
            .where(
                Recording.state.in_((RecordingState.ACTIVE, RecordingState.PURGING)),
                Recording.due_at <= clock.now,
            )
            .order_by(Recording.due_at, Recording.id)
            .limit(200)
        )
        compiled = statement.compile(
            dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
        )
        if dialect == "postgresql":
            # An empty test table would be scanned sequentially whatever the indexes; forbid
            # that to see whether the planner can serve the query from the index.
            session.execute(sa.text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(session.scalars(sa.text(f"EXPLAIN {compiled}")))
        else:
            plan = "\n".join(
                str(row[-1]) for row in session.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))
            )
    assert "ix_recordings_state_due_at" in plan
    assert "SCAN recordings" not in plan
    assert "Seq Scan" not in plan


def test_the_sweep_purges_everything_due_in_batches_and_ends_expired_holds(
    database, storage, policy, stored_recording, hold, receipts, clock, audit_rows, fresh
):
    due_ones = [stored_recording(clock.now - timedelta(days=200 - i)) for i in range(3)]
    held = stored_recording(clock.now - timedelta(days=80))
    placed = hold(held, now=clock.now, ends_on=(clock.now + timedelta(days=30)).date())
    young = stored_recording()
    sweep_time = placed.ends_at + timedelta(days=1)

    report = run_sweep(
        database, storage, now=sweep_time, policy=policy, batch_size=2, job_id="tick-1"
    )

    assert (report.purged, report.kept, report.already, report.due_remaining) == (4, 0, 0, 0)
    assert report.batches == 2
    assert report.holds_ended == 1
    assert {r.recording_id for r in receipts()} == {r.id for r in [*due_ones, held]}
    assert fresh(young.id).state is RecordingState.ACTIVE
    [ended] = audit_rows(AuditAction.HOLD_EXPIRED, subject_id=held.public_id)
    assert ended.actor_label == "job:tick-1"
    with database.session_factory() as session:
        assert session.get(RecordingHold, placed.id).ended_at == sweep_time
    again = run_sweep(database, storage, now=sweep_time, policy=policy, job_id="tick-2")
    assert (again.purged, again.holds_ended, again.batches) == (0, 0, 0)


def test_a_dry_run_lists_what_would_go_and_changes_nothing(
    database, storage, policy, stored_recording, receipts, clock, fresh
):
    old = stored_recording(clock.now - timedelta(days=120))
    young = stored_recording()
    report = run_sweep(database, storage, now=clock.now, policy=policy, dry_run=True)

    assert [(p.recording_public_id, p.reason) for p in report.would_purge] == [
        (old.public_id, "retention_expired")
    ]
    assert report.would_purge[0].due_at == old.due_at
    assert report.purged == 0
    assert receipts() == []
    assert fresh(old.id).state is RecordingState.ACTIVE
    assert storage.exists(old.storage_key)
    assert storage.exists(young.storage_key)


def test_a_failing_storage_is_logged_and_retried_next_sweep(
    database, storage, policy, stored_recording, clock, fresh, monkeypatch
):
    recording = stored_recording(clock.now - timedelta(days=120))

    def broken_delete(key: str) -> bool:
        raise OSError("disk on fire")

    def broken_delete_many(keys: Any) -> set[str]:
        raise OSError("disk on fire")

    # One by one on local files, batched on an object store (`--storage=s3`): both fail.
    monkeypatch.setattr(storage, "delete", broken_delete)
    monkeypatch.setattr(storage, "delete_many", broken_delete_many)
    report = run_sweep(database, storage, now=clock.now, policy=policy)
    assert (report.failed, report.purged, report.due_remaining) == (1, 0, 1)
    assert fresh(recording.id).state is RecordingState.PURGING

    monkeypatch.undo()
    assert run_sweep(database, storage, now=clock.now, policy=policy).purged == 1


def test_a_sweep_out_of_time_on_slow_storage_stops_loudly_and_loses_nothing(
    database, storage, policy, stored_recording, clock, fresh, receipts, monkeypatch
):
    """Storage answering slowly (each delete takes 50 ms on the run's clock) and a sweep whose
    time is up after about a third of the work: it finishes what it deleted, raises with its
    report instead of being killed mid-batch, and the next sweep purges the rest, each
    recording exactly once."""
    recordings = [stored_recording(clock.now - timedelta(days=120)) for _ in range(24)]
    real_delete = storage.delete
    elapsed = [0.0]

    real_delete_many = storage.delete_many

    def slow_delete(key: str) -> bool:
        elapsed[0] += 0.05
        return real_delete(key)

    def slow_delete_many(keys: Any) -> set[str]:
        keys = list(keys)
        elapsed[0] += 0.05 * len(keys)
        return real_delete_many(keys)

    monkeypatch.setattr(storage, "delete", slow_delete)
    monkeypatch.setattr(storage, "delete_many", slow_delete_many)
    with pytest.raises(SweepOutOfTime) as out_of_time:
        run_sweep(
            database,
            storage,
            now=clock.now,
            policy=policy,
            batch_size=5,
            deadline=Deadline(at=0.4, clock=lambda: elapsed[0]),
        )
    report = out_of_time.value.report
    assert 0 < report.purged < len(recordings)
    assert report.failed == 0  # out of time is not a storage failure
    purged = [r for r in recordings if fresh(r.id).state is RecordingState.PURGED]
    assert len(purged) == report.purged
    assert sorted(p.recording_public_id for p in receipts()) == sorted(r.public_id for r in purged)
    for recording in recordings:
        # Either gone with its receipt, or still stored with its audio: nothing in between.
        assert storage.exists(recording.storage_key) is (recording not in purged)

    monkeypatch.undo()
    again = run_sweep(database, storage, now=clock.now, policy=policy, batch_size=5)
    assert again.purged == len(recordings) - report.purged
    assert again.due_remaining == 0
    assert len(receipts()) == len(recordings)
    assert all(fresh(r.id).state is RecordingState.PURGED for r in recordings)


def _prefer_batches(storage: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the backend ask for batched deletes, as an object store does (a sealed store
    asks its inner backend)."""
    backend = getattr(storage, "inner", storage)
    monkeypatch.setattr(backend, "prefers_batched_deletes", True, raising=False)


def test_a_batch_is_deleted_in_one_request_where_the_backend_prefers_it(
    database, storage, policy, stored_recording, clock, fresh, receipts, monkeypatch
):
    _prefer_batches(storage, monkeypatch)
    recordings = [stored_recording(clock.now - timedelta(days=120)) for _ in range(7)]
    real_delete_many = storage.delete_many
    calls: list[int] = []

    def counted(keys: Any) -> set[str]:
        keys = list(keys)
        calls.append(len(keys))
        return real_delete_many(keys)

    def no_single_deletes(key: str) -> bool:
        raise AssertionError("a batched backend is not asked one key at a time")

    monkeypatch.setattr(storage, "delete_many", counted)
    monkeypatch.setattr(storage, "delete", no_single_deletes)

    report = run_sweep(database, storage, now=clock.now, policy=policy, batch_size=5)

    assert report.purged == 7
    # Two claimed batches, each one request with every file of its recordings.
    assert len(calls) == 2
    assert sum(calls) >= 7
    assert all(fresh(r.id).state is RecordingState.PURGED for r in recordings)
    assert len(receipts()) == 7


def test_a_key_the_store_refuses_leaves_only_its_recording_purging(
    database, storage, policy, stored_recording, clock, fresh, receipts, monkeypatch
):
    _prefer_batches(storage, monkeypatch)
    recordings = [stored_recording(clock.now - timedelta(days=120)) for _ in range(3)]
    refused = recordings[1].storage_key
    real_delete_many = storage.delete_many

    def refusing(keys: Any) -> set[str]:
        return real_delete_many([key for key in keys if key != refused])

    monkeypatch.setattr(storage, "delete_many", refusing)
    report = run_sweep(database, storage, now=clock.now, policy=policy)

    assert (report.purged, report.failed) == (2, 1)
    assert fresh(recordings[1].id).state is RecordingState.PURGING
    assert storage.exists(refused)
    assert [fresh(r.id).state for r in (recordings[0], recordings[2])] == [
        RecordingState.PURGED
    ] * 2

    monkeypatch.undo()
    assert run_sweep(database, storage, now=clock.now, policy=policy).purged == 1
    assert len(receipts()) == 3


# `make soak` runs 500 (on PostgreSQL).
RACE_ITERATIONS = int(os.environ.get("PURGE_RACE_ITERATIONS", "50"))


def race_hold_against_purge(
    database: Database,
    storage: LocalStorage,
    policy: RetentionPolicy,
    recording: Recording,
    supervisor_id: int,
) -> dict[str, str]:
    """Start a hold (one second before due) and a purge (at due) together in two threads,
    each with its own database session; return how each ended."""
    barrier = threading.Barrier(2)
    result: dict[str, str] = {}

    def place() -> None:
        barrier.wait()
        try:
            with database.unit_of_work() as session:
                holds.place_hold(
                    make_context(
                        session, session.get(StaffUser, supervisor_id), recording.due_at - SECOND
                    ),
                    recording_public_id=recording.public_id,
                    reason="complaint",
                    reference="CASE-7",
                    justification="Race",
                    ends_on=None,
                    policy=policy,
                )
            result["hold"] = "accepted"
        except Conflict:
            result["hold"] = "409"

    def purge_it() -> None:
        barrier.wait()
        result["purge"] = purge(database, storage, policy, recording, recording.due_at).result

    threads = [threading.Thread(target=place), threading.Thread(target=purge_it)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def test_a_hold_and_a_purge_racing_never_both_win(
    database, storage, policy, stored_recording, supervisor, receipts, fresh
):
    """Either the hold is accepted and the recording stays intact without a receipt, or the
    hold gets a 409 and the recording is purged with exactly one receipt. On PostgreSQL the row
    lock decides; on SQLite the database-wide write lock serialises the two the same way."""
    for _ in range(RACE_ITERATIONS):
        recording = stored_recording()
        result = race_hold_against_purge(database, storage, policy, recording, supervisor.id)
        row = fresh(recording.id)
        mine = [r for r in receipts() if r.recording_id == recording.id]
        if result["hold"] == "accepted":
            assert result["purge"] == "kept"
            assert row.state is RecordingState.ACTIVE
            assert storage.exists(recording.storage_key)
            assert mine == []
        else:
            assert result == {"hold": "409", "purge": "purged"}
            assert row.state is RecordingState.PURGED
            assert not storage.exists(recording.storage_key)
            assert len(mine) == 1


# --- property: after a sweep, a recording exists exactly when the rules say it is not due ---

BASE = datetime(2026, 1, 1, tzinfo=UTC)
hold_spec = st.tuples(
    st.integers(min_value=0, max_value=400),  # placed, days after recording
    st.integers(min_value=1, max_value=400),  # lasting days
    st.one_of(st.none(), st.integers(min_value=0, max_value=400)),  # released, days after placed
)
recording_spec = st.tuples(
    st.integers(min_value=0, max_value=300 * 24),  # recorded, hours after BASE
    st.lists(hold_spec, max_size=2),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(recording_spec, min_size=1, max_size=3),
    now_hours=st.integers(min_value=0, max_value=800 * 24),
)
def test_after_a_sweep_a_recording_exists_exactly_when_it_is_not_due(
    database: Database,
    storage: LocalStorage,
    policy: RetentionPolicy,
    stored_recording: Callable[..., Recording],
    supervisor: StaffUser,
    specs: list[Any],
    now_hours: int,
) -> None:
    now = BASE + timedelta(hours=now_hours)
    created: list[tuple[Recording, list[HoldPeriod]]] = []
    for recorded_hours, hold_specs in specs:
        recording = stored_recording(BASE + timedelta(hours=recorded_hours))
        cap = retention.hold_cap(recording.recorded_at, policy)
        periods = []
        with database.unit_of_work() as session:
            row = session.get(Recording, recording.id)
            for placed_days, lasting_days, released_days in hold_specs:
                placed_at = recording.recorded_at + timedelta(days=placed_days)
                ends_at = min(placed_at + timedelta(days=lasting_days), cap)
                released_at = (
                    placed_at + timedelta(days=released_days) if released_days is not None else None
                )
                if placed_at >= ends_at:
                    continue
                session.add(
                    RecordingHold(
                        recording_id=row.id,
                        reason=HoldReason.COMPLAINT,
                        reference="P-1",
                        justification="property",
                        placed_by_id=supervisor.id,
                        placed_at=placed_at,
                        ends_at=ends_at,
                        released_at=released_at,
                    )
                )
                periods.append(HoldPeriod(ends_at=ends_at, released_at=released_at))
            session.flush()
            session.refresh(row, attribute_names=["holds"])
            row.due_at = services.compute_due_at(row, policy)
        created.append((recording, periods))

    run_sweep(database, storage, now=now, policy=policy, batch_size=2)

    with database.session_factory() as session:
        for recording, periods in created:
            row = session.get(Recording, recording.id)
            exists = row.state is RecordingState.ACTIVE and storage.exists(recording.storage_key)
            due = retention.is_due(recording.recorded_at, periods, policy, now=now)
            assert exists is (not due)
            receipt_count = session.scalar(
                sa.select(sa.func.count()).where(PurgeReceipt.recording_id == recording.id)
            )
            assert receipt_count == (1 if due else 0)
            assert (
                session.scalar(
                    sa.select(sa.func.count()).where(
                        AuditEvent.action == AuditAction.RECORDING_PURGED,
                        AuditEvent.subject_id == recording.public_id,
                    )
                )
                == receipt_count
            )
