"""Reconciliation: rows without audio and files without rows are reported, and repaired safely."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest

from app import create_app
from cs_register.audit.models import AuditAction
from recordings import retention
from recordings.ledger import verify_ledger
from recordings.models import RecordingState
from recordings.reconcile import reconcile
from tests.recordings import purge_support
from tests.recordings.purge_support import write_file
from tests.recordings.storage_support import staging_folder

# Shared fixtures of the retention-engine tests.
fresh = purge_support.fresh
receipts = purge_support.receipts
stored_recording = purge_support.stored_recording

OLD_BYTES = b"forgotten audio " * 10


@pytest.fixture
def drifted(storage, policy, stored_recording, clock):
    """One intact recording, one whose file vanished, an orphan past the cap, a young orphan."""
    intact = stored_recording()
    lost = stored_recording()
    storage.delete(lost.storage_key)
    old_orphan = write_file(storage, OLD_BYTES, ".wav")
    written = clock.now - timedelta(days=400)
    os.utime(storage.inner.path_for(old_orphan), (written.timestamp(), written.timestamp()))
    young_orphan = write_file(storage, b"recent upload that never got its row", ".wav")
    young_time = clock.now - timedelta(days=30)
    os.utime(storage.inner.path_for(young_orphan), (young_time.timestamp(), young_time.timestamp()))
    return intact, lost, old_orphan, young_orphan


@pytest.mark.local_storage_only(
    reason="back-dates orphan files with os.utime; an object store sets LastModified itself"
    " (test_an_orphan_is_deleted_once_its_cap_has_passed covers both backends)"
)
def test_drift_is_reported_exactly_and_nothing_changes_without_repair(
    database, storage, policy, clock, drifted, receipts, audit_rows, fresh
):
    intact, lost, old_orphan, young_orphan = drifted
    report = reconcile(database, storage, now=clock.now, policy=policy, repair=False)

    assert report.missing_audio == [lost.public_id]
    assert sorted(report.orphan_files) == sorted([old_orphan, young_orphan])
    assert report.repaired == []
    assert storage.exists(old_orphan)
    assert fresh(lost.id).audio_missing_at is None
    assert receipts() == []
    assert audit_rows(AuditAction.RECORDING_AUDIO_MISSING) == []


@pytest.mark.local_storage_only(
    reason="back-dates orphan files with os.utime; an object store sets LastModified itself"
    " (test_an_orphan_is_deleted_once_its_cap_has_passed covers both backends)"
)
def test_repair_marks_missing_audio_and_deletes_old_orphans_with_a_receipt(
    database, storage, policy, clock, drifted, receipts, audit_rows, fresh
):
    intact, lost, old_orphan, young_orphan = drifted
    report = reconcile(database, storage, now=clock.now, policy=policy, repair=True, job_id="r1")

    assert report.marked_missing == [lost.public_id]
    assert report.deleted_orphans == [old_orphan]
    assert fresh(lost.id).audio_missing_at == clock.now
    assert fresh(lost.id).state is RecordingState.ACTIVE
    assert fresh(intact.id).audio_missing_at is None
    assert not storage.exists(old_orphan)
    assert storage.exists(young_orphan)

    [receipt] = receipts()
    assert receipt.reason.value == "orphan_file"
    assert (receipt.recording_id, receipt.recording_public_id) == (None, None)
    assert receipt.audio_sha256 == hashlib.sha256(OLD_BYTES).hexdigest()
    assert receipt.size_bytes == len(OLD_BYTES)
    assert receipt.job_id == "r1"
    written = receipt.recorded_at
    assert receipt.cap == retention.hold_cap(written, policy)
    [missing] = audit_rows(AuditAction.RECORDING_AUDIO_MISSING, subject_id=lost.public_id)
    assert missing.actor_label == "job:r1"
    [deleted] = audit_rows(AuditAction.ORPHAN_FILE_PURGED, subject_id=old_orphan)
    assert deleted.details == {"receipt": receipt.sequence}

    again = reconcile(database, storage, now=clock.now, policy=policy, repair=True)
    assert again.missing_audio == []
    # A young orphan is only ever reported: it may be an upload whose row is still coming.
    assert again.orphan_files == [young_orphan]
    assert again.repaired == []
    with database.session_factory() as session:
        assert verify_ledger(session).ok


@pytest.mark.local_storage_only(
    reason="back-dates orphan files with os.utime; an object store sets LastModified itself"
    " (test_an_orphan_is_deleted_once_its_cap_has_passed covers both backends)"
)
def test_a_recording_with_missing_audio_is_still_purged_when_due(
    database, storage, policy, clock, drifted, receipts, fresh
):
    from recordings.sweep import run_sweep

    _intact, lost, _old, _young = drifted
    reconcile(database, storage, now=clock.now, policy=policy, repair=True)
    run_sweep(database, storage, now=lost.due_at, policy=policy)
    assert fresh(lost.id).state is RecordingState.PURGED
    assert lost.id in {r.recording_id for r in receipts()}


def test_an_orphan_is_deleted_once_its_cap_has_passed(database, storage, policy, receipts):
    """On every backend: an orphan dated by the storage itself (an object store's
    LastModified) is only reported until its cap, then deleted with a receipt."""
    orphan = write_file(storage, OLD_BYTES, ".wav")
    written = storage.modified_at(orphan)
    cap = retention.hold_cap(written, policy)

    early = reconcile(database, storage, now=cap - timedelta(seconds=1), policy=policy, repair=True)
    assert early.orphan_files == [orphan]
    assert early.deleted_orphans == []
    assert storage.exists(orphan)

    late = reconcile(database, storage, now=cap, policy=policy, repair=True)
    assert late.deleted_orphans == [orphan]
    assert not storage.exists(orphan)
    [receipt] = receipts()
    assert receipt.audio_sha256 == hashlib.sha256(OLD_BYTES).hexdigest()
    assert receipt.recorded_at == written


def test_a_clean_store_reports_nothing(database, storage, policy, clock, stored_recording):
    stored_recording(playback=True)
    report = reconcile(database, storage, now=clock.now, policy=policy, repair=True)
    assert report.clean
    assert report.repaired == []


def test_repair_clears_uploads_abandoned_for_a_day(database, storage, policy, clock):
    """A process killed mid-upload leaves partial audio in the staging area; repair removes
    it once it is a day old, never an upload that may still be arriving."""
    staging = staging_folder(storage)
    staging.mkdir(parents=True)
    for name, age in (("upload-abandoned", timedelta(hours=25)), ("upload-live", timedelta(0))):
        path = staging / name
        path.write_bytes(b"audio")
        stamp = (clock.now - age).timestamp()
        os.utime(path, (stamp, stamp))
    reconcile(database, storage, now=clock.now, policy=policy, repair=False)
    assert len(list(staging.iterdir())) == 2  # a report changes nothing
    report = reconcile(database, storage, now=clock.now, policy=policy, repair=True)
    assert [path.name for path in staging.iterdir()] == ["upload-live"]
    assert report.abandoned_uploads_removed == 1


def test_a_starting_process_clears_uploads_abandoned_for_a_day(settings, clock, database):
    """kill -9 mid-upload, then a restart: the new process removes what the old one left."""
    staging = settings.storage_root / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    for name, age in (
        ("upload-killed", timedelta(hours=24, seconds=1)),
        ("upload-at-the-limit", timedelta(hours=24)),
        ("upload-live", timedelta(0)),
    ):
        path = staging / name
        path.write_bytes(b"partial call audio")
        stamp = (clock.now - age).timestamp()
        os.utime(path, (stamp, stamp))
    create_app(settings, clock=clock, database=database)
    assert sorted(path.name for path in staging.iterdir()) == ["upload-at-the-limit", "upload-live"]
