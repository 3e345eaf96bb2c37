"""`flask retention sweep|status|verify|reconcile`."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from recordings.models import RecordingState
from tests.recordings import purge_support
from tests.recordings.purge_support import write_file

# Shared fixtures of the retention-engine tests.
fresh = purge_support.fresh
hold = purge_support.hold
receipts = purge_support.receipts
stored_recording = purge_support.stored_recording
supervisor = purge_support.supervisor


def run(app, *args):
    return app.test_cli_runner().invoke(args=["retention", *args])


def test_a_dry_run_lists_what_would_be_purged_and_changes_nothing(
    app, storage, stored_recording, clock, receipts, fresh
):
    old = stored_recording(clock.now - timedelta(days=100))
    young = stored_recording()
    result = run(app, "sweep", "--dry-run")

    assert result.exit_code == 0, result.output
    assert f"{old.public_id}  retention_expired" in result.output
    assert young.public_id not in result.output
    assert "1 recordings would be purged" in result.output
    assert fresh(old.id).state is RecordingState.ACTIVE
    assert storage.exists(old.storage_key)
    assert receipts() == []


def test_sweep_purges_with_a_progress_bar_on_large_runs(
    app, storage, stored_recording, clock, receipts
):
    due = [stored_recording(clock.now - timedelta(days=100 + i)) for i in range(3)]
    result = run(app, "sweep", "--batch-size", "1")

    assert result.exit_code == 0, result.output
    assert "Purged 3, kept 0, already purged 0, failed 0" in result.output
    assert "3 batches" in result.output
    assert {r.recording_id for r in receipts()} == {r.id for r in due}


def test_status_counts_and_exits_non_zero_when_the_purge_falls_behind(
    app, stored_recording, hold, clock
):
    held = stored_recording()
    hold(held, now=clock.now, ends_on=(clock.now + timedelta(days=7)).date())
    stored_recording()
    healthy = run(app, "status")
    assert healthy.exit_code == 0, healthy.output
    assert "active: 2" in healthy.output
    assert "held: 1" in healthy.output
    assert "Holds ending within 14 days: 1" in healthy.output
    assert "Invariants: OK" in healthy.output

    overdue = stored_recording(clock.now - timedelta(days=100))
    behind = run(app, "status")
    assert behind.exit_code == 2
    assert f"VIOLATION overdue: {overdue.public_id}" in behind.output

    assert run(app, "sweep").exit_code == 0
    assert run(app, "status").exit_code == 0


def test_verify_reports_the_first_broken_link(app, database, stored_recording, clock, receipts):
    for days in (120, 110):
        stored_recording(clock.now - timedelta(days=days))
    run(app, "sweep")
    ok = run(app, "verify")
    assert ok.exit_code == 0
    assert "Ledger OK: 2 receipts" in ok.output

    first = receipts()[0]
    with database.engine.begin() as connection:
        if database.engine.dialect.name == "postgresql":
            connection.execute(sa.text("DROP TRIGGER purge_receipts_append_only ON purge_receipts"))
        else:
            connection.execute(sa.text("DROP TRIGGER purge_receipts_no_update"))
        connection.execute(sa.text("UPDATE purge_receipts SET reason = 'orphan_file'"))
    broken = run(app, "verify")
    assert broken.exit_code == 1
    assert f"Ledger BROKEN at receipt {first.id}" in broken.output


def test_reconcile_reports_and_repairs(app, storage, stored_recording, fresh):
    lost = stored_recording()
    storage.delete(lost.storage_key)
    stray = write_file(storage, b"stray", ".wav")

    report = run(app, "reconcile")
    assert report.exit_code == 0
    assert f"missing audio: recording {lost.public_id}" in report.output
    assert f"orphan file: {stray}" in report.output
    assert fresh(lost.id).audio_missing_at is None

    repaired = run(app, "reconcile", "--repair")
    assert f"repaired: {lost.public_id}" in repaired.output
    # The stray file is new: reported, never deleted.
    assert storage.exists(stray)
    assert fresh(lost.id).audio_missing_at is not None
