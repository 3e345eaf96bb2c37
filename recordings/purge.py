"""Purging recordings: the crash-safe state machine the sweep (`recordings.sweep`) drives.

`active → purging → purged`, a batch of recordings at a time (the sweep's batch, or one for a
single purge). Every step is its own short transaction on locked rows; the steps take a session
and `purge_batch`, the engine's driver, owns the transactions:

1. `claim_for_purge`: lock the batch, re-check each row against its CURRENT holds with
   `recordings.retention` (a hold placed a moment ago wins: the recording is kept and its
   `due_at` recomputed), set the due ones `purging` with one statement, commit. An erasure
   request takes the same steps before the recording is due, with reason `erasure_request`;
   only a complaint hold keeps the recording then. From here on `place_hold` refuses with a
   Conflict.
2. delete each one's audio and playback copy from storage (already missing counts as deleted);
   one that fails stays `purging` and the rest go on.
3. `finish_purge`: lock again, turn the rows still `purging` into tombstones (`purged`, no
   storage keys), append their chained receipts to the ledger and their RECORDING_PURGED audit
   rows (one statement each for the batch), commit.

A process killed anywhere leaves either an `active` row (nothing happened), a `purging` row
(resumed by the next sweep: deleting again is harmless) or a finished tombstone with its receipt.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import job_context
from cs_register.db import Database
from recordings import retention
from recordings.ledger import append_receipts
from recordings.models import PurgeReason, Recording, RecordingHold, RecordingState
from recordings.retention import RetentionPolicy
from recordings.storage import RecordingStorage, StorageError

log = logging.getLogger(__name__)

STORED_STATES = (RecordingState.ACTIVE, RecordingState.PURGING)


@dataclass(frozen=True)
class PurgeOutcome:
    """What `purge_recording` did to one recording."""

    recording_id: int
    result: Literal["purged", "kept", "already_purged", "not_found"]
    reason: str | None = None
    due_at: datetime | None = None


@dataclass(frozen=True)
class _Row:
    """What the purge needs of one locked recording, read with one statement per batch."""

    id: int
    public_id: str
    state: RecordingState
    recorded_at: datetime
    due_at: datetime
    erasure_requested_at: datetime | None
    sha256: str
    size_bytes: int
    keys: tuple[str, ...]
    holds: list[retention.HoldPeriod]


def _lock_batch(session: Session, recording_ids: Sequence[int]) -> dict[int, _Row]:
    """The recordings in `recording_ids`, locked for the rest of the transaction, with their
    holds: the locks are taken before anything is read, in id order (two sweeps never wait on
    each other in a circle)."""
    ids = sorted(set(recording_ids))
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks; a write takes the database write lock before anything is
        # read, so two purges (or a purge and a hold) cannot both act on a stale read.
        session.execute(
            sa.update(Recording).where(Recording.id.in_(ids)).values(state=Recording.state)
        )
    locked = session.execute(
        sa.select(
            Recording.id,
            Recording.public_id,
            Recording.state,
            Recording.recorded_at,
            Recording.due_at,
            Recording.erasure_requested_at,
            Recording.sha256,
            Recording.size_bytes,
            Recording.storage_key,
            Recording.playback_key,
        )
        .where(Recording.id.in_(ids))
        .order_by(Recording.id)
        .with_for_update()
    ).all()
    holds: dict[int, list[retention.HoldPeriod]] = {row.id: [] for row in locked}
    for hold in session.execute(
        sa.select(
            RecordingHold.recording_id,
            RecordingHold.ends_at,
            RecordingHold.released_at,
            RecordingHold.reason,
        ).where(RecordingHold.recording_id.in_(list(holds)))
    ):
        holds[hold.recording_id].append(
            retention.HoldPeriod(hold.ends_at, hold.released_at, hold.reason.value)
        )
    rows: dict[int, _Row] = {}
    for row in locked:
        fields = row._asdict()
        files = (fields.pop("storage_key"), fields.pop("playback_key"))
        keys = tuple(key for key in files if key)
        rows[row.id] = _Row(**fields, keys=keys, holds=holds[row.id])
    return rows


def _schedule(row: _Row, policy: RetentionPolicy) -> retention.Schedule:
    return retention.schedule(
        row.recorded_at, row.holds, policy, erasure_requested_at=row.erasure_requested_at
    )


def reason_for(
    cap: datetime,
    holds: Sequence[retention.HoldPeriod],
    *,
    erasure_requested_at: datetime | None,
) -> PurgeReason:
    """`erasure_request` once the person asked for it; `hold_cap_reached` when a hold was
    still in force at the `cap`; else `retention_expired`."""
    if erasure_requested_at is not None:
        return PurgeReason.ERASURE_REQUEST
    if any(hold.end() >= cap for hold in holds):
        return PurgeReason.HOLD_CAP_REACHED
    return PurgeReason.RETENTION_EXPIRED


def purge_reason(recording: Recording, policy: RetentionPolicy) -> PurgeReason:
    return reason_for(
        retention.hold_cap(recording.recorded_at, policy),
        recording.hold_periods(),
        erasure_requested_at=recording.erasure_requested_at,
    )


@dataclass
class PurgeClaim:
    """What step 1 decided for a batch: the outcomes known already, and the recordings now
    `purging` with the files to delete before step 3."""

    outcomes: dict[int, PurgeOutcome] = field(default_factory=dict)
    files: dict[int, tuple[str, ...]] = field(default_factory=dict)


def claim_for_purge(
    session: Session,
    recording_ids: Sequence[int],
    *,
    now: datetime,
    policy: RetentionPolicy,
    erasure: bool = False,
) -> PurgeClaim:
    """Step 1, in the caller's transaction: lock the batch, re-check each recording against
    its CURRENT holds (a hold placed a moment ago wins: the recording is kept and its `due_at`
    recomputed) and set the due ones `purging` with one statement. An `erasure` first notes
    that the person asked for it, which makes the recording due at once unless a complaint
    hold keeps it. Rows left `purging` by a crash are claimed again, files and all."""
    claim = PurgeClaim()
    rows = _lock_batch(session, recording_ids)
    to_purge: list[int] = []
    for recording_id in recording_ids:
        row = rows.get(recording_id)
        if row is None:
            claim.outcomes[recording_id] = PurgeOutcome(recording_id, "not_found")
            continue
        if row.state is RecordingState.PURGED:
            claim.outcomes[recording_id] = PurgeOutcome(recording_id, "already_purged")
            continue
        if row.state is RecordingState.ACTIVE:
            if erasure and row.erasure_requested_at is None:
                row = dataclasses.replace(row, erasure_requested_at=now)
                session.execute(
                    sa.update(Recording)
                    .where(Recording.id == recording_id)
                    .values(erasure_requested_at=now)
                )
            due = _schedule(row, policy).due_at
            if now < due:
                # A hold placed after the sweep picked this id: it wins.
                session.execute(
                    sa.update(Recording).where(Recording.id == recording_id).values(due_at=due)
                )
                claim.outcomes[recording_id] = PurgeOutcome(recording_id, "kept", due_at=due)
                continue
            to_purge.append(recording_id)
        claim.files[recording_id] = row.keys
    if to_purge:
        session.execute(
            sa.update(Recording)
            .where(Recording.id.in_(to_purge))
            .values(state=RecordingState.PURGING)
        )
    return claim


def finish_purge(
    session: Session,
    recording_ids: Sequence[int],
    *,
    now: datetime,
    policy: RetentionPolicy,
    job_id: str | None,
) -> dict[int, PurgeOutcome]:
    """Step 3, in the caller's transaction, for recordings whose files are deleted: lock them
    again and turn each still `purging` into a tombstone (no storage keys), with its chained
    receipt and its RECORDING_PURGED audit row, the batch's receipts and audit rows each in
    one statement. One another worker finished meanwhile is `already_purged`."""
    rows = _lock_batch(session, recording_ids)
    outcomes: dict[int, PurgeOutcome] = {}
    receipts: list[dict[str, Any]] = []
    tombstones: list[dict[str, Any]] = []
    audit_rows: list[tuple[tuple[str, str], dict[str, Any]]] = []
    short_job_id = job_id[:128] if job_id else None
    for recording_id in recording_ids:
        row = rows.get(recording_id)
        if row is None:  # pragma: no cover - rows are never deleted
            outcomes[recording_id] = PurgeOutcome(recording_id, "not_found")
            continue
        if row.state is not RecordingState.PURGING:
            # Another worker finished it between our two transactions.
            outcomes[recording_id] = PurgeOutcome(recording_id, "already_purged")
            continue
        planned = _schedule(row, policy)
        reason = reason_for(planned.cap, row.holds, erasure_requested_at=row.erasure_requested_at)
        tombstones.append({"purged_id": row.id, "reason": reason.value})
        receipts.append(
            {
                "recording_id": row.id,
                "recording_public_id": row.public_id,
                "audio_sha256": row.sha256,
                "size_bytes": row.size_bytes,
                "reason": reason,
                "recorded_at": row.recorded_at,
                "retain_until": planned.retain_until,
                "cap": planned.cap,
                "due_at": row.due_at,
                "purged_at": now,
                "job_id": short_job_id,
            }
        )
        audit_rows.append(
            (
                ("recording", row.public_id),
                {"reason": reason.value, "due_at": row.due_at.isoformat()},
            )
        )
        outcomes[recording_id] = PurgeOutcome(recording_id, "purged", reason.value, row.due_at)
    if tombstones:
        # One statement per reason (three at most), not one per row: a round trip each
        # is what a batch exists to save.
        by_reason: dict[str, list[int]] = {}
        for tombstone in tombstones:
            by_reason.setdefault(tombstone["reason"], []).append(tombstone["purged_id"])
        for reason_value, ids in by_reason.items():
            session.execute(
                sa.update(Recording)
                .where(Recording.id.in_(ids))
                .values(
                    state=RecordingState.PURGED,
                    storage_key=None,
                    playback_key=None,
                    purged_at=now,
                    purge_reason=reason_value,
                )
            )
        append_receipts(session, receipts)
        audit.record_many(
            job_context(session, job_id=job_id, now=now), AuditAction.RECORDING_PURGED, audit_rows
        )
    return outcomes


@dataclass(frozen=True)
class Deadline:
    """When a run stops starting deletions, on a monotonic clock (tests hand in their own)."""

    at: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(at=time.monotonic() + seconds)

    def passed(self) -> bool:
        return self.clock() >= self.at


class OutOfTime(Exception):
    """The run's time was up (`deadline`) before this recording's files were deleted."""


def purge_batch(
    database: Database,
    storage: RecordingStorage,
    recording_ids: Sequence[int],
    *,
    now: datetime,
    policy: RetentionPolicy,
    job_id: str | None,
    erasure: bool = False,
    deadline: Deadline | None = None,
) -> tuple[dict[int, PurgeOutcome], dict[int, Exception]]:
    """Move a batch of recordings through `active → purging → purged`, each if (and only if)
    it is due: step 1 (`claim_for_purge`) commits, the files are deleted outside any
    transaction, step 3 (`finish_purge`) commits. These are the engine's transactions, by
    design: a crash between them leaves rows `purging`, which the next run resumes.

    A recording whose file cannot be deleted stays `purging` and is returned with its error;
    the rest of the batch goes on. Idempotent; an audio file already gone counts as deleted.
    Once `deadline` has passed no further file is deleted: the recordings
    deleted so far are finished, the others stay `purging` for the next run and are returned
    with `OutOfTime`.
    """
    with database.unit_of_work() as session:
        claim = claim_for_purge(session, recording_ids, now=now, policy=policy, erasure=erasure)
    if batched_deletes(storage):
        deleted, failures = _delete_batched(storage, claim.files, deadline)
    else:
        deleted, failures = _delete_one_by_one(storage, claim.files, deadline)
    if deleted:
        with database.unit_of_work() as session:
            claim.outcomes.update(
                finish_purge(session, deleted, now=now, policy=policy, job_id=job_id)
            )
    return claim.outcomes, failures


def batched_deletes(storage: RecordingStorage) -> bool:
    """Whether the backend deletes a batch faster in one request (an object store: one
    request per 1,000 keys instead of a request per object) than file by file."""
    return bool(getattr(storage, "prefers_batched_deletes", False)) and hasattr(
        storage, "delete_many"
    )


def _delete_one_by_one(
    storage: RecordingStorage, files: Mapping[int, Sequence[str]], deadline: Deadline | None
) -> tuple[list[int], dict[int, Exception]]:
    """Each recording's files in turn, the deadline checked between recordings."""
    failures: dict[int, Exception] = {}
    deleted: list[int] = []
    for recording_id, keys in files.items():
        if deadline is not None and deadline.passed():
            failures[recording_id] = OutOfTime("the run's time was up before its files")
            continue
        try:
            for key in keys:
                storage.delete(key)
        except Exception as error:  # noqa: BLE001 - any storage failure leaves it for next time
            failures[recording_id] = error
            continue
        deleted.append(recording_id)
    return deleted, failures


def _delete_batched(
    storage: RecordingStorage, files: Mapping[int, Sequence[str]], deadline: Deadline | None
) -> tuple[list[int], dict[int, Exception]]:
    """The whole claimed batch's files in one batched delete. A recording is deleted when
    every one of its keys is gone; one whose key the store refused stays `purging` with the
    error, as a failed single delete would."""
    if deadline is not None and deadline.passed():
        late = OutOfTime("the run's time was up before its files")
        return [], dict.fromkeys(files, late)
    keys = [key for recording_keys in files.values() for key in recording_keys]
    delete_many = getattr(storage, "delete_many")  # noqa: B009 - not in the Protocol
    try:
        gone = set(delete_many(keys))
    except Exception as error:  # noqa: BLE001 - any storage failure leaves them for next time
        return [], dict.fromkeys(files, error)
    deleted = [rid for rid, recording_keys in files.items() if set(recording_keys) <= gone]
    refused = StorageError("the store did not delete this recording's files")
    return deleted, {rid: refused for rid in files if rid not in deleted}


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
    """One recording through the purge (`purge_batch` of one). Raises what storage raised."""
    outcomes, failures = purge_batch(
        database, storage, [recording_id], now=now, policy=policy, job_id=job_id, erasure=erasure
    )
    if recording_id in failures:
        raise failures[recording_id]
    return outcomes[recording_id]
