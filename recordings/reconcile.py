"""Reconciliation: the database and the storage must describe the same recordings.

Two kinds of drift are looked for:

- an `active` row whose audio file is gone ("missing audio"). Repair marks the row
  (`audio_missing_at`) and audits RECORDING_AUDIO_MISSING; the purge later tombstones it as usual.
  Rows in `purging` are not checked: their audio is being deleted on purpose, and the next
  sweep finishes them.
- a stored file that no row refers to ("orphan file"), e.g. left by a crash between writing the
  file and committing its row. Nothing is known about such a file, so its modification time is
  taken as its recording time, which errs on the side of keeping it. Repair deletes an orphan
  only once that time is past the hold cap, with a receipt (reason `orphan_file`, SHA-256 taken
  before deleting) and an audit row; younger orphans are only reported.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import job_context
from cs_register.db import Database
from recordings import retention
from recordings.ledger import append_receipt
from recordings.models import PurgeReason, Recording, RecordingState
from recordings.retention import RetentionPolicy
from recordings.storage import RecordingStorage

log = logging.getLogger(__name__)

BATCH = 500


# An upload still being received is younger than this (a 2-hour call on a slow line included).
ABANDONED_UPLOAD = timedelta(hours=24)


@dataclass
class ReconciliationReport:
    # Public ids of active recordings whose audio file is missing (and not yet marked).
    missing_audio: list[str] = field(default_factory=list)
    # Storage keys of files no recording refers to.
    orphan_files: list[str] = field(default_factory=list)
    # What repair did: public ids of rows marked, storage keys of orphans deleted.
    marked_missing: list[str] = field(default_factory=list)
    deleted_orphans: list[str] = field(default_factory=list)
    # Staging files of uploads abandoned `ABANDONED_UPLOAD` ago or longer, removed by repair.
    abandoned_uploads_removed: int = 0

    @property
    def repaired(self) -> list[str]:
        return self.marked_missing + self.deleted_orphans

    @property
    def clean(self) -> bool:
        return not self.missing_audio and not self.orphan_files


def clear_abandoned_uploads(storage: RecordingStorage, *, now: datetime) -> int:
    """Remove uploads a process was killed in the middle of (partial audio nobody will
    finish): staging files `ABANDONED_UPLOAD` old, longer than any upload may take. Run when
    a process starts and by reconciliation's repair; returns how many went."""
    removed = storage.remove_abandoned_staging(older_than=now - ABANDONED_UPLOAD)
    if removed:
        log.warning("removed %d abandoned upload staging files", removed)
    return removed


def _batches(keys: Iterator[str], size: int) -> Iterator[list[str]]:
    while batch := list(islice(keys, size)):
        yield batch


def _sha256(storage: RecordingStorage, key: str) -> str:
    digest = hashlib.sha256()
    for chunk in storage.open(key):
        digest.update(chunk)
    return digest.hexdigest()


def _find_missing_audio(
    database: Database,
    storage: RecordingStorage,
    report: ReconciliationReport,
    *,
    now: datetime,
    repair: bool,
    job_id: str | None,
) -> None:
    last_id = 0
    while True:
        with database.session_factory() as session:
            rows = session.execute(
                sa.select(Recording.id, Recording.public_id, Recording.storage_key)
                .where(
                    Recording.state == RecordingState.ACTIVE,
                    Recording.audio_missing_at.is_(None),
                    Recording.id > last_id,
                )
                .order_by(Recording.id)
                .limit(BATCH)
            ).all()
        if not rows:
            return
        last_id = rows[-1].id
        missing = [row for row in rows if row.storage_key and not storage.exists(row.storage_key)]
        report.missing_audio.extend(row.public_id for row in missing)
        if not repair:
            continue
        for row in missing:
            with database.unit_of_work() as session:
                recording = session.get(Recording, row.id, with_for_update=True)
                # Re-checked under the lock: the purge may have finished it meanwhile.
                if (
                    recording is None
                    or recording.state is not RecordingState.ACTIVE
                    or recording.audio_missing_at is not None
                ):
                    continue
                recording.audio_missing_at = now
                audit.record(
                    job_context(session, job_id=job_id, now=now),
                    AuditAction.RECORDING_AUDIO_MISSING,
                    recording,
                )
            report.marked_missing.append(row.public_id)


def _referenced(session: Session, keys: list[str]) -> set[str]:
    found = set(
        session.scalars(sa.select(Recording.storage_key).where(Recording.storage_key.in_(keys)))
    )
    found |= set(
        session.scalars(sa.select(Recording.playback_key).where(Recording.playback_key.in_(keys)))
    )
    return {key for key in found if key is not None}


def _find_orphans(
    database: Database,
    storage: RecordingStorage,
    report: ReconciliationReport,
    *,
    now: datetime,
    policy: RetentionPolicy,
    repair: bool,
    job_id: str | None,
) -> None:
    for keys in _batches(storage.iter_keys(), BATCH):
        with database.read_only() as session:
            referenced = _referenced(session, keys)
        for key in keys:
            if key in referenced:
                continue
            report.orphan_files.append(key)
            if not repair:
                continue
            written_at = storage.modified_at(key)
            cap = retention.hold_cap(written_at, policy)
            if now < cap:
                continue
            with database.unit_of_work() as session:
                # Checked again inside the transaction that writes the receipt (on SQLite it
                # holds the write lock from its start): a row may have appeared since.
                if _referenced(session, [key]):
                    continue
                receipt = append_receipt(
                    session,
                    reason=PurgeReason.ORPHAN_FILE,
                    purged_at=now,
                    audio_sha256=_sha256(storage, key),
                    size_bytes=storage.size(key),
                    recorded_at=written_at,
                    retain_until=retention.retain_until(written_at, policy),
                    cap=cap,
                    due_at=cap,
                    job_id=job_id[:128] if job_id else None,
                )
                audit.record(
                    job_context(session, job_id=job_id, now=now),
                    AuditAction.ORPHAN_FILE_PURGED,
                    ("storage_file", key),
                    details={"receipt": receipt.sequence},
                )
                # Deleted before the commit: if the commit then fails the file is gone without
                # its receipt (logged), never the other way round (a receipt for kept data).
                storage.delete(key)
            report.deleted_orphans.append(key)


def reconcile(
    database: Database,
    storage: RecordingStorage,
    *,
    now: datetime,
    policy: RetentionPolicy,
    repair: bool,
    job_id: str | None = None,
) -> ReconciliationReport:
    """Compare rows and files; with `repair`, mark missing audio and delete old orphans."""
    report = ReconciliationReport()
    if repair:
        report.abandoned_uploads_removed = clear_abandoned_uploads(storage, now=now)
    _find_missing_audio(database, storage, report, now=now, repair=repair, job_id=job_id)
    _find_orphans(database, storage, report, now=now, policy=policy, repair=repair, job_id=job_id)
    if not report.clean:
        log.warning(
            "reconciliation: %d recordings with missing audio, %d orphan files (%d repaired)",
            len(report.missing_audio),
            len(report.orphan_files),
            len(report.repaired),
        )
    return report
