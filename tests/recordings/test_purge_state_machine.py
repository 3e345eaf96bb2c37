"""The retention engine as a state machine: any sequence of ingests, holds placed and released,
time passing, sweeps and sweeps that crash part-way keeps the promise.

After every step: nothing is purged before its due time (so nothing is purged while a hold is
in force: a hold moves the due time), every purged recording has exactly one receipt and no
file, and the ledger only grows and verifies. After every completed sweep: nothing due is
still stored. `make test` runs a small example budget; `make soak` runs it with
`PURGE_STATE_MACHINE_EXAMPLES` raised.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from cs_register.clock import local_today
from cs_register.errors import Conflict, NotFound, ValidationFailed
from recordings import holds, retention
from recordings.ledger import verify_ledger
from recordings.models import PurgeReceipt, Recording, RecordingHold, RecordingState
from recordings.purge import claim_for_purge
from recordings.sweep import find_recordings_due_for_purge, run_sweep
from tests.recordings import purge_support
from tests.support.context import make_context

stored_recording = purge_support.stored_recording
supervisor = purge_support.supervisor

EXAMPLES = int(os.environ.get("PURGE_STATE_MACHINE_EXAMPLES", "12"))
STEPS = int(os.environ.get("PURGE_STATE_MACHINE_STEPS", "25"))
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_no_sequence_of_operations_breaks_the_retention_promise(
    database, storage, policy, stored_recording, supervisor
):
    class RetentionMachine(RuleBasedStateMachine):
        recordings = Bundle("recordings")
        hold_ids = Bundle("holds")

        def __init__(self) -> None:
            super().__init__()
            self.now = START
            self.mine: set[int] = set()
            with database.session_factory() as session:
                self.receipts_seen = session.scalar(sa.select(sa.func.count(PurgeReceipt.id)))

        def _ctx(self, session: Any) -> Any:
            return make_context(session, session.get(type(supervisor), supervisor.id), self.now)

        @rule(target=recordings, age_hours=st.integers(min_value=0, max_value=24 * 400))
        def ingest(self, age_hours: int) -> int:
            recording = stored_recording(self.now - timedelta(hours=age_hours))
            self.mine.add(recording.id)
            return recording.id

        @rule(
            target=hold_ids,
            recording_id=recordings,
            days=st.integers(min_value=0, max_value=400),
            reason=st.sampled_from(["complaint", "quality_development"]),
        )
        def place_hold(self, recording_id: int, days: int, reason: str) -> Any:
            try:
                with database.unit_of_work() as session:
                    public_id = session.get(Recording, recording_id).public_id
                    placed = holds.place_hold(
                        self._ctx(session),
                        recording_public_id=public_id,
                        reason=reason,
                        reference="SM-1",
                        justification="State machine",
                        ends_on=local_today(self.now) + timedelta(days=days),
                        policy=policy,
                    )
                    return placed.public_id
            except (Conflict, ValidationFailed):
                # Refused: the recording is going or gone, or the end is past its cap.
                return multiple()

        @rule(hold_id=hold_ids)
        def release_hold(self, hold_id: str) -> None:
            try:
                with database.unit_of_work() as session:
                    holds.release_hold(
                        self._ctx(session), hold_public_id=hold_id, note="Done", policy=policy
                    )
            except (Conflict, ValidationFailed, NotFound):
                pass  # already ended, or released before

        @rule(hours=st.integers(min_value=1, max_value=24 * 60))
        def advance_time(self, hours: int) -> None:
            self.now += timedelta(hours=hours)

        @rule()
        def sweep(self) -> None:
            report = run_sweep(database, storage, now=self.now, policy=policy, batch_size=3)
            assert report.failed == 0
            with database.session_factory() as session:
                for recording in self._rows(session):
                    if recording.state is not RecordingState.PURGED:
                        assert self._due(recording) > self.now, recording.public_id

        @rule(
            rows=st.integers(min_value=1, max_value=4), files=st.integers(min_value=0, max_value=4)
        )
        def sweep_killed_part_way(self, rows: int, files: int) -> None:
            """A sweep killed after claiming `rows` recordings and deleting `files` of them."""
            with database.unit_of_work() as session:
                due = find_recordings_due_for_purge(session, now=self.now, limit=rows)
                claim = claim_for_purge(session, due, now=self.now, policy=policy)
            for keys in list(claim.files.values())[:files]:
                for key in keys:
                    storage.delete(key)

        def _rows(self, session: Any) -> list[Recording]:
            return list(session.scalars(sa.select(Recording).where(Recording.id.in_(self.mine))))

        def _due(self, recording: Recording) -> datetime:
            periods = [
                retention.HoldPeriod(hold.ends_at, hold.released_at, hold.reason.value)
                for hold in recording.holds
            ]
            return retention.due_at(recording.recorded_at, periods, policy)

        @invariant()
        def the_promise_holds(self) -> None:
            with database.session_factory() as session:
                for recording in self._rows(session):
                    receipts = session.scalar(
                        sa.select(sa.func.count(PurgeReceipt.id)).where(
                            PurgeReceipt.recording_id == recording.id
                        )
                    )
                    if recording.state is RecordingState.PURGED:
                        assert recording.purged_at is not None
                        assert recording.purged_at >= self._due(recording), recording.public_id
                        assert recording.storage_key is None
                        assert receipts == 1
                    else:
                        assert receipts == 0
                        if recording.state is RecordingState.ACTIVE:
                            assert storage.exists(recording.storage_key or "")
                total = session.scalar(sa.select(sa.func.count(PurgeReceipt.id)))
                assert total >= self.receipts_seen
                self.receipts_seen = total
                assert verify_ledger(session).ok
                # A hold never outlives the cap.
                for hold in session.scalars(
                    sa.select(RecordingHold).where(RecordingHold.recording_id.in_(self.mine))
                ):
                    assert hold.ends_at <= retention.hold_cap(hold.recording.recorded_at, policy)

    run_state_machine_as_test(
        RetentionMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
