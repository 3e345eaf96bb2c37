"""The retention sweep: end expired holds, then purge everything due, a batch at a time.

The database is the schedule: the sweep finds due rows through the (state, due_at) index and
hands each batch to the purge's state machine (`recordings.purge.purge_batch`), whose steps
commit on their own by design. A sweep stopped anywhere leaves a state the next one completes;
two sweeps at once purge each recording once. The self-checks (`check_invariants`,
`reconcile`) are importable from here too, so a job needs one import for the whole engine.
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
from recordings.models import Recording, RecordingHold, RecordingState
from recordings.monitor import InvariantViolation, check_invariants
from recordings.purge import STORED_STATES, Deadline, OutOfTime, purge_batch, purge_reason
from recordings.reconcile import ReconciliationReport, reconcile
from recordings.retention import RetentionPolicy
from recordings.storage import RecordingStorage

log = logging.getLogger(__name__)

__all__ = [
    "InvariantViolation",
    "PlannedPurge",
    "ReconciliationReport",
    "SweepReport",
    "check_invariants",
    "end_expired_holds",
    "find_recordings_due_for_purge",
    "reconcile",
    "run_sweep",
]


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


class SweepOutOfTime(Exception):
    """The sweep's time was up with recordings still due; `report` says what it did."""

    def __init__(self, report: SweepReport) -> None:
        super().__init__(
            f"the sweep ran out of time after purging {report.purged} recordings;"
            " the next sweep resumes the rest"
        )
        self.report = report


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
    deadline: Deadline | None = None,
) -> SweepReport:
    """End expired holds, then purge everything due in batches of `batch_size`.

    Each batch is purged in its own transactions (`purge_batch`), so stopping at any point
    leaves a state the next sweep completes. A recording whose purge fails (storage error) is
    logged by id, counted in `failed` and skipped for the rest of this sweep; the next sweep
    retries it.
    `on_batch(n)` is called after each batch (progress bars).
    With `deadline` (the job's timeout less a margin), the sweep
    finishes what it has deleted when the time is up and raises `SweepOutOfTime` with its
    report: the job fails loudly instead of being killed mid-batch, and the next sweep
    resumes the rest.
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
        if deadline is not None and deadline.passed():
            raise SweepOutOfTime(report)
        report.batches += 1
        try:
            outcomes, failures = purge_batch(
                database, storage, batch, now=now, policy=policy, job_id=job_id, deadline=deadline
            )
        except Exception:
            log.exception(
                "purge of a batch of %d recordings failed; retried next sweep", len(batch)
            )
            failed.update(batch)
            report.failed += len(batch)
            continue
        for outcome in outcomes.values():
            if outcome.result == "purged":
                report.purged += 1
            elif outcome.result == "kept":
                report.kept += 1
            else:
                report.already += 1
        if any(isinstance(error, OutOfTime) for error in failures.values()):
            # Not failures: left `purging`, untouched, for the next sweep.
            raise SweepOutOfTime(report)
        for recording_id, error in failures.items():
            log.error(
                "deleting the files of recording id %s failed (%s); retried next sweep",
                recording_id,
                type(error).__name__,
            )
        failed.update(failures)
        report.failed += len(failures)
        if on_batch is not None:
            on_batch(len(batch))
    with database.session_factory() as session:
        report.due_remaining = count_due(session, now=now)
    return report
