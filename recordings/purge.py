"""Purging recordings when they are due: a crash-safe state machine and the sweep that drives it.

`active → purging → purged`. Every step is its own short transaction on a locked row:

1. lock the row, re-check against the CURRENT holds with `recordings.retention` (a hold placed a
   moment ago wins: the recording is kept and its `due_at` recomputed), set `purging`, commit.
   An erasure request takes the same steps before the recording is due, with reason
   `erasure_request`; only a complaint hold keeps the recording then.
   From here on `place_hold` refuses with a Conflict.
2. delete the audio and its playback copy from storage (already missing counts as deleted).
3. lock again, turn the row into a tombstone (`purged`, no storage keys), append one receipt to
   the ledger, audit RECORDING_PURGED, commit.

A process killed anywhere leaves either an `active` row (nothing happened), a `purging` row
(resumed by the next sweep: deleting again is harmless) or a finished tombstone with its receipt.
The database is the schedule: the sweep finds due rows through the (state, due_at) index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import job_context
from cs_register.db import Database
from recordings import retention
from recordings.ledger import append_receipt
from recordings.models import PurgeReason, Recording, RecordingHold, RecordingState
from recordings.monitor import InvariantViolation, check_invariants
from recordings.reconcile import ReconciliationReport, reconcile
from recordings.retention import RetentionPolicy
from recordings.storage import RecordingStorage

log = logging.getLogger(__name__)

# The self-checks live in their own modules; they are importable from here too, so the jobs
# need one import for the whole retention engine.
__all__ = [
    "InvariantViolation",
    "PlannedPurge",
    "PurgeOutcome",
    "ReconciliationReport",
    "SweepReport",
    "check_invariants",
    "end_expired_holds",
    "find_recordings_due_for_purge",
    "purge_recording",
    "reconcile",
    "run_sweep",
]

STORED_STATES = (RecordingState.ACTIVE, RecordingState.PURGING)


@dataclass(frozen=True)
class PurgeOutcome:
    """What `purge_recording` did: "purged", "kept", "already_purged" or "not_found"."""

    recording_id: int
    result: str
    reason: str | None = None
    due_at: datetime | None = None


@dataclass(frozen=True)
class PlannedPurge:
    """One line of a dry run: which recording would go, why, and since when it is due."""

    recording_public_id: str
    reason: str
    due_at: datetime


@dataclass
class SweepReport:
    purged: int = 0
    kept: int = 0
    already: int = 0
    holds_ended: int = 0
    batches: int = 0
    due_remaining: int = 0
    failed: int = 0
    dry_run: bool = False
    would_purge: list[PlannedPurge] = field(default_factory=list)


def find_recordings_due_for_purge(session: Session, *, now: datetime, limit: int) -> list[int]:
    """Ids of stored recordings whose `due_at` has come, the longest-due first.

    Served by the (state, due_at) index, so the cost follows the number due, not the number
    stored. Rows left `purging` by a crash are included so they are resumed.
    """
    return list(
        session.scalars(
            sa.select(Recording.id)
            .where(Recording.state.in_(STORED_STATES), Recording.due_at <= now)
            .order_by(Recording.due_at, Recording.id)
            .limit(limit)
        )
    )


def _lock(session: Session, recording_id: int) -> Recording | None:
    """The recording row, locked for the rest of the transaction, with its holds."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks; a write takes the database write lock before anything is
        # read, so two purges (or a purge and a hold) cannot both act on a stale read.
        session.execute(
            sa.text("UPDATE recordings SET state = state WHERE id = :id"), {"id": recording_id}
        )
    return session.scalar(
        sa.select(Recording)
        .where(Recording.id == recording_id)
        .with_for_update()
        .options(selectinload(Recording.holds))
        .execution_options(populate_existing=True)
    )


def purge_reason(recording: Recording, policy: RetentionPolicy) -> PurgeReason:
    """`erasure_request` once the person asked for it; `hold_cap_reached` when a hold was
    still in force at the cap; else `retention_expired`."""
    if recording.erasure_requested_at is not None:
        return PurgeReason.ERASURE_REQUEST
    cap = retention.hold_cap(recording.recorded_at, policy)
    if any(hold.end() >= cap for hold in recording.hold_periods()):
        return PurgeReason.HOLD_CAP_REACHED
    return PurgeReason.RETENTION_EXPIRED


def purge_recording(
    database: Database,
    storage: RecordingStorage,
    *,
    recording_id: int,
    now: datetime,
    policy: RetentionPolicy,
    job_id: str | None,
    erasure: bool = False,
) -> PurgeOutcome:
    """Move one recording through `active → purging → purged` if (and only if) it is due. An
    `erasure` first notes that the person asked for erasure (in the same locked transaction),
    which makes it due at once unless a complaint hold keeps it (`recordings.retention`).

    Idempotent and resumable; never raises for an audio file that is already gone.
    """
    with database.unit_of_work() as session:
        recording = _lock(session, recording_id)
        if recording is None:
            return PurgeOutcome(recording_id, "not_found")
        if recording.state is RecordingState.PURGED:
            return PurgeOutcome(recording_id, "already_purged", recording.purge_reason)
        if recording.state is RecordingState.ACTIVE:
            if erasure and recording.erasure_requested_at is None:
                recording.erasure_requested_at = now
            due = recording.schedule(policy).due_at
            if now < due:
                # A hold placed after the sweep picked this id: it wins.
                recording.due_at = due
                return PurgeOutcome(recording_id, "kept", due_at=due)
            recording.state = RecordingState.PURGING
        keys = [key for key in (recording.storage_key, recording.playback_key) if key]

    for key in keys:
        storage.delete(key)

    with database.unit_of_work() as session:
        recording = _lock(session, recording_id)
        if recording is None:  # pragma: no cover - rows are never deleted
            return PurgeOutcome(recording_id, "not_found")
        if recording.state is RecordingState.PURGED:
            # Another worker finished it between our two transactions.
            return PurgeOutcome(recording_id, "already_purged", recording.purge_reason)
        reason = purge_reason(recording, policy)
        planned = recording.schedule(policy)
        recording.state = RecordingState.PURGED
        recording.storage_key = None
        recording.playback_key = None
        recording.purged_at = now
        recording.purge_reason = reason.value
        append_receipt(
            session,
            reason=reason,
            purged_at=now,
            recording_id=recording.id,
            recording_public_id=recording.public_id,
            audio_sha256=recording.sha256,
            size_bytes=recording.size_bytes,
            recorded_at=recording.recorded_at,
            retain_until=planned.retain_until,
            cap=planned.cap,
            due_at=recording.due_at,
            job_id=job_id[:128] if job_id else None,
        )
        audit.record(
            job_context(session, job_id=job_id, now=now),
            AuditAction.RECORDING_PURGED,
            ("recording", recording.public_id),
            details={"reason": reason.value, "due_at": recording.due_at.isoformat()},
        )
        return PurgeOutcome(recording_id, "purged", reason.value, recording.due_at)


def end_expired_holds(
    database: Database, *, now: datetime, job_id: str | None = None, batch_size: int = 200
) -> int:
    """Close holds whose end date has passed (audit HOLD_EXPIRED each); returns how many."""
    ended = 0
    while True:
        with database.unit_of_work() as session:
            holds = list(
                session.scalars(
                    sa.select(RecordingHold)
                    .where(
                        RecordingHold.released_at.is_(None),
                        RecordingHold.ended_at.is_(None),
                        RecordingHold.ends_at <= now,
                    )
                    .order_by(RecordingHold.ends_at, RecordingHold.id)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                    .options(selectinload(RecordingHold.recording))
                )
            )
            for hold in holds:
                hold.ended_at = now
                audit.record(
                    job_context(session, job_id=job_id, now=now),
                    AuditAction.HOLD_EXPIRED,
                    ("recording", hold.recording.public_id),
                    details={"hold": hold.public_id, "ends_at": hold.ends_at.isoformat()},
                )
            ended += len(holds)
        if len(holds) < batch_size:
            return ended


def count_expired_holds(session: Session, *, now: datetime) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count(RecordingHold.id)).where(
                RecordingHold.released_at.is_(None),
                RecordingHold.ended_at.is_(None),
                RecordingHold.ends_at <= now,
            )
        )
        or 0
    )


def count_due(session: Session, *, now: datetime) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count(Recording.id)).where(
                Recording.state.in_(STORED_STATES), Recording.due_at <= now
            )
        )
        or 0
    )


def plan_sweep(
    database: Database,
    *,
    now: datetime,
    policy: RetentionPolicy,
    batch_size: int = 200,
    on_batch: Callable[[int], None] | None = None,
) -> SweepReport:
    """What a sweep at `now` would do, changing nothing (`flask retention sweep --dry-run`)."""
    report = SweepReport(dry_run=True)
    with database.session_factory() as session:
        report.holds_ended = count_expired_holds(session, now=now)
        after: tuple[datetime, int] | None = None
        while True:
            query = (
                sa.select(Recording)
                .where(Recording.state.in_(STORED_STATES), Recording.due_at <= now)
                .order_by(Recording.due_at, Recording.id)
                .limit(batch_size)
                .options(selectinload(Recording.holds))
            )
            if after is not None:
                query = query.where(sa.tuple_(Recording.due_at, Recording.id) > sa.tuple_(*after))
            batch = list(session.scalars(query))
            if not batch:
                break
            report.batches += 1
            for recording in batch:
                due = recording.schedule(policy).due_at
                if recording.state is RecordingState.ACTIVE and now < due:
                    report.kept += 1
                    continue
                report.would_purge.append(
                    PlannedPurge(
                        recording_public_id=recording.public_id,
                        reason=purge_reason(recording, policy).value,
                        due_at=recording.due_at,
                    )
                )
            after = (batch[-1].due_at, batch[-1].id)
            if on_batch is not None:
                on_batch(len(batch))
            session.expunge_all()
        report.due_remaining = len(report.would_purge)
    return report


def run_sweep(
    database: Database,
    storage: RecordingStorage,
    *,
    now: datetime,
    policy: RetentionPolicy,
    batch_size: int = 200,
    job_id: str | None = None,
    dry_run: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> SweepReport:
    """End expired holds, then purge everything due in batches of `batch_size`.

    Each recording is purged in its own transactions, so stopping at any point leaves a state
    the next sweep completes. A recording whose purge fails (storage error) is logged by id,
    counted in `failed` and skipped for the rest of this sweep; the next sweep retries it.
    `on_batch(n)` is called after each batch (progress bars).
    """
    if dry_run:
        return plan_sweep(
            database, now=now, policy=policy, batch_size=batch_size, on_batch=on_batch
        )
    report = SweepReport()
    report.holds_ended = end_expired_holds(database, now=now, job_id=job_id, batch_size=batch_size)
    failed: set[int] = set()
    while True:
        with database.session_factory() as session:
            ids = find_recordings_due_for_purge(session, now=now, limit=batch_size + len(failed))
        batch = [recording_id for recording_id in ids if recording_id not in failed][:batch_size]
        if not batch:
            break
        report.batches += 1
        for recording_id in batch:
            try:
                outcome = purge_recording(
                    database,
                    storage,
                    recording_id=recording_id,
                    now=now,
                    policy=policy,
                    job_id=job_id,
                )
            except Exception:
                log.exception("purge of recording id %s failed; retried next sweep", recording_id)
                failed.add(recording_id)
                report.failed += 1
                continue
            if outcome.result == "purged":
                report.purged += 1
            elif outcome.result == "kept":
                report.kept += 1
            else:
                report.already += 1
        if on_batch is not None:
            on_batch(len(batch))
    with database.session_factory() as session:
        report.due_remaining = count_due(session, now=now)
    return report
