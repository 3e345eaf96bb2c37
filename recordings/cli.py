"""`flask retention ...`: run and inspect the recording purge from the command line.

- `sweep [--dry-run]`: end expired holds and purge everything due (the dry run lists what would
  be purged and why, and changes nothing).
- `status`: counts by state, next due, holds ending soon, invariant violations. Exits 2 when a
  recording is overdue or past its cap, so an operator's alerting can run it.
- `verify`: check the hash chains of the purge receipts and of the erasure receipts
  (`cs_register.privacy.erasure_receipts`); exits 1 at the first broken link.
- `reconcile [--repair]`: compare rows and stored files.
- `export-ledgers FILE` and, after a restore from backup, `reapply FILE`: keep the receipts
  outside the database's backups, and purge and erase again what a restore brought back
  (`recordings.restore`).

`flask recordings make-playback-copies` makes the listening copies older recordings lack.

Output carries recording public ids and counts only, never personal data.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from cs_register.audit.retention import AuditRetention
from cs_register.clock import local_time
from cs_register.contacts.retention import ContactRetention
from cs_register.db import get_database
from cs_register.personal_data import registry as personal_data_registry
from cs_register.privacy.data_retention import (
    overdue_audit_events,
    overdue_contacts,
    overdue_customers,
    sweep_customer_service_data,
)
from cs_register.privacy.erasure_receipts import verify_erasure_ledger, verify_retention_ledger
from cs_register.web import current_settings
from cs_register.web import now as app_now
from recordings.ledger import verify_ledger
from recordings.models import Recording, RecordingHold, RecordingState
from recordings.monitor import check_invariants
from recordings.playback_copies import make_playback_copy_for, recordings_without_copy
from recordings.reconcile import reconcile
from recordings.restore import LedgerFileRefused, export_ledgers, read_ledger_file, reapply
from recordings.sweep import SweepReport, count_due, run_sweep
from recordings.web import current_policy, current_storage

retention_cli = AppGroup("retention", help="Purge recordings when due, and prove it.")
recordings_cli = AppGroup("recordings", help="Recordings' audio.")

# Exit status of `status` when the retention promise is broken (1 is click's own errors).
EXIT_INVARIANT_VIOLATED = 2
EXIT_LEDGER_BROKEN = 1
HOLDS_ENDING_SOON = timedelta(days=14)
# Batches (of the sweep's batch size) from which a progress bar is worth drawing.
PROGRESS_BAR_FROM = 2
BATCH_SIZE = 200
# Callables (database, now) run before a sweep removes anything: see `create_app`.
BEFORE_SWEEP = "cs_register.before_sweep"


def _contact_retention() -> ContactRetention:
    return ContactRetention(days=current_settings().contact_retention_days)


def _audit_retention() -> AuditRetention:
    return AuditRetention(years=current_settings().audit_retention_years)


@recordings_cli.command("make-playback-copies")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(min=1))
def make_playback_copies_command(limit: int) -> None:
    """Make the listening copies that recordings stored before every recording had one lack
    (agents play only that copy). Safe to run again, and alongside the purge."""
    database = get_database(current_app)
    with database.unit_of_work() as session:
        waiting = recordings_without_copy(session, limit=limit)
    made = 0
    for recording_id in waiting:
        made += make_playback_copy_for(
            database.unit_of_work,
            current_storage(),
            recording_id,
            max_bytes=current_settings().max_upload_bytes,
        )
    click.echo(f"Made {made} listening copies; {len(waiting) - made} needed none any more.")


@retention_cli.command("sweep")
@click.option("--dry-run", is_flag=True, help="List what would be purged and why; change nothing.")
@click.option("--batch-size", default=BATCH_SIZE, show_default=True, type=click.IntRange(1))
def sweep_command(dry_run: bool, batch_size: int) -> None:
    """End expired holds, purge every recording that is due, then remove the contacts past
    their time (`CONTACT_RETENTION_DAYS`) that nothing keeps."""
    database = get_database(current_app)
    now = app_now()
    if not dry_run:
        # What must happen before anything leaves (the statistics roll-up), wired in create_app.
        for before in current_app.extensions.get(BEFORE_SWEEP, ()):
            before(database, now)
    with database.session_factory() as session:
        due = count_due(session, now=now)
    batches = -(-due // batch_size)

    def sweep(on_batch: Callable[[int], None] | None = None) -> SweepReport:
        return run_sweep(
            database,
            current_storage(),
            now=now,
            policy=current_policy(),
            batch_size=batch_size,
            dry_run=dry_run,
            on_batch=on_batch,
        )

    if batches >= PROGRESS_BAR_FROM:
        with click.progressbar(length=due, label="Recordings", file=sys.stderr) as bar:
            report = sweep(bar.update)
    else:
        report = sweep()
    contacts = sweep_customer_service_data(
        database,
        personal_data_registry(),
        now=now,
        policy=_contact_retention(),
        audit_policy=_audit_retention(),
        dry_run=dry_run,
    )
    if dry_run:
        for planned in report.would_purge:
            click.echo(
                f"{planned.recording_public_id}  {planned.reason}  due {local_time(planned.due_at)}"
            )
        click.echo(
            f"Dry run: {len(report.would_purge)} recordings would be purged,"
            f" {report.kept} kept, {report.holds_ended} holds would end;"
            f" {contacts.removed} contacts would be removed, {contacts.kept} kept;"
            f" {contacts.customers_removed} customers with no contact left would be removed;"
            f" {contacts.audit_events_removed} audit events past AUDIT_RETENTION_YEARS would"
            " be removed."
            " Nothing was changed."
        )
        return
    click.echo(
        f"Purged {report.purged}, kept {report.kept}, already purged {report.already},"
        f" failed {report.failed}; ended {report.holds_ended} holds; {report.batches} batches;"
        f" still due {report.due_remaining}."
    )
    click.echo(
        f"Contacts: removed {contacts.removed}, kept {contacts.kept} (a recording or an open"
        f" request needs them); customers with none left: removed {contacts.customers_removed},"
        f" kept {contacts.customers_kept} (an open request); audit events removed"
        f" {contacts.audit_events_removed}; failed batches {contacts.failed}."
    )


@retention_cli.command("status")
def status_command() -> None:
    """Counts, next due, holds ending soon; exit 2 if any recording is overdue or past its cap."""
    database = get_database(current_app)
    now = app_now()
    settings = current_settings()
    with database.session_factory() as session:
        by_state = dict(
            session.execute(
                sa.select(Recording.state, sa.func.count()).group_by(Recording.state)
            ).all()
        )
        held = (
            session.scalar(
                sa.select(sa.func.count(sa.distinct(Recording.id)))
                .join(RecordingHold, RecordingHold.recording_id == Recording.id)
                .where(
                    Recording.state == RecordingState.ACTIVE,
                    Recording.due_at > now,
                    RecordingHold.released_at.is_(None),
                    RecordingHold.ends_at > now,
                )
            )
            or 0
        )
        due = count_due(session, now=now)
        next_due = session.scalar(
            sa.select(sa.func.min(Recording.due_at)).where(
                Recording.state == RecordingState.ACTIVE, Recording.due_at > now
            )
        )
        ending_soon = (
            session.scalar(
                sa.select(sa.func.count(RecordingHold.id)).where(
                    RecordingHold.released_at.is_(None),
                    RecordingHold.ends_at > now,
                    RecordingHold.ends_at <= now + HOLDS_ENDING_SOON,
                )
            )
            or 0
        )
        violations = check_invariants(
            session,
            now=now,
            policy=current_policy(),
            sweep_interval=timedelta(minutes=settings.sweep_interval_minutes),
        )
        contacts_overdue = overdue_contacts(
            session, personal_data_registry(), now=now, policy=_contact_retention()
        )
        customers_overdue = overdue_customers(
            session, personal_data_registry(), now=now, policy=_contact_retention()
        )
        audit_overdue = overdue_audit_events(session, now=now, policy=_audit_retention())
    for state in RecordingState:
        click.echo(f"{state.value:>8}: {by_state.get(state, 0)}")
    click.echo(f"    held: {held} (active, under a hold)")
    click.echo(f"     due: {due} (stored, waiting for the next sweep)")
    click.echo(f"Next due: {local_time(next_due) if next_due else '-'}")
    click.echo(f"Holds ending within 14 days: {ending_soon}")
    click.echo(f"Contacts overdue for removal: {contacts_overdue}")
    click.echo(f"Customers overdue for removal: {customers_overdue}")
    click.echo(f"Audit events overdue for removal: {audit_overdue}")
    data_overdue = contacts_overdue + customers_overdue + audit_overdue
    if data_overdue:
        click.echo(
            f"{contacts_overdue} contacts, {customers_overdue} customers and {audit_overdue}"
            " audit events are kept past their time with nothing needing them: the sweep is"
            " not keeping up.",
            err=True,
        )
    if violations:
        for violation in violations:
            click.echo(
                f"VIOLATION {violation.kind}: {violation.recording_public_id}"
                f" due {local_time(violation.due_at)}",
                err=True,
            )
        click.echo(
            f"{len(violations)} recordings are overdue for deletion: the purge is not keeping up.",
            err=True,
        )
        raise SystemExit(EXIT_INVARIANT_VIOLATED)
    if data_overdue:
        raise SystemExit(EXIT_INVARIANT_VIOLATED)
    click.echo("Invariants: OK")


@retention_cli.command("verify")
def verify_command() -> None:
    """Check the hash chains of the purge receipts and of the erasure receipts."""
    with get_database(current_app).session_factory() as session:
        chains = (
            ("Ledger", verify_ledger(session)),
            ("Erasure ledger", verify_erasure_ledger(session)),
            ("Retention ledger", verify_retention_ledger(session)),
        )
    for name, result in chains:
        if not result.ok:
            click.echo(
                f"{name} BROKEN at receipt {result.first_broken}: {result.problem}", err=True
            )
            raise SystemExit(EXIT_LEDGER_BROKEN)
        click.echo(f"{name} OK: {result.receipts} receipts, every link verified.")


@retention_cli.command("reconcile")
@click.option("--repair", is_flag=True, help="Mark missing audio and delete orphans past the cap.")
def reconcile_command(repair: bool) -> None:
    """Find recordings whose audio is missing and stored files with no recording."""
    report = reconcile(
        get_database(current_app),
        current_storage(),
        now=app_now(),
        policy=current_policy(),
        repair=repair,
    )
    for public_id in report.missing_audio:
        click.echo(f"missing audio: recording {public_id}")
    for key in report.orphan_files:
        click.echo(f"orphan file: {key}")
    for item in report.repaired:
        click.echo(f"repaired: {item}")
    click.echo(
        f"{len(report.missing_audio)} missing audio, {len(report.orphan_files)} orphan files,"
        f" {len(report.repaired)} repaired, {report.abandoned_uploads_removed} abandoned"
        " uploads removed."
    )


@retention_cli.command("export-ledgers")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def export_ledgers_command(path: str) -> None:
    """Write the purge and erasure receipts to PATH (JSON lines), to keep outside the
    database's backups for `reapply`. Written beside PATH first, then renamed into place."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    with get_database(current_app).read_only() as session, partial.open("w") as out:
        counts = export_ledgers(session, out)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(target)
    click.echo(
        f"Exported {counts['purge_receipt']} purge receipts and {counts['erasure_receipt']}"
        f" erasure receipts to {target.name}."
    )


@retention_cli.command("reapply")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def reapply_command(path: str) -> None:
    """After a restore from backup: purge and erase again whatever the restore brought back
    that the exported receipts in PATH prove gone. Run it before starting the workers."""
    try:
        with Path(path).open() as lines:
            ledgers = read_ledger_file(lines)
    except LedgerFileRefused as refused:
        raise click.ClickException(f"{refused}; nothing was changed.") from None
    report = reapply(
        get_database(current_app),
        current_storage(),
        personal_data_registry(),
        ledgers,
        now=app_now,
        policy=current_policy(),
        job_id="reapply",
    )
    for public_id in report.recordings_purged_again:
        click.echo(f"purged again: recording {public_id}")
    for public_id in report.customers_erased_again:
        click.echo(f"erased again: customer {public_id}")
    for public_id in report.customers_needing_a_new_request:
        click.echo(
            f"back in the register, erasure case missing: customer {public_id}"
            " (register the erasure request again)",
            err=True,
        )
    click.echo(
        f"Read {report.purge_receipts} purge and {report.erasure_receipts} erasure receipts;"
        f" {len(report.recordings_purged_again)} recordings purged again,"
        f" {len(report.customers_erased_again)} customers erased again."
    )
    if report.customers_needing_a_new_request:
        raise SystemExit(EXIT_INVARIANT_VIOLATED)
