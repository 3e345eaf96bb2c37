"""The retention sweep for customer-service data other than recordings: contacts leave when
their time is up, and then customers with no contact left (`cs_register.contacts.retention`),
through the personal-data registry.

Run by the per-tick retention job after the recordings' purge (so a recording that just left
releases its contact in the same run) and by `flask retention sweep`. Each batch is one
transaction: lock the batch's contacts, ask every `RetentionKeeper` which it still needs,
delete the rest with everything that hangs on them (each source its own rows, as in an
erasure but with no customer in scope), append one retention receipt (ids range, digest, counts;
no personal data) and one audit row. A sweep killed anywhere has removed whole batches, each
with its receipt, and the next sweep continues; nothing is half-deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit import retention as audit_retention
from cs_register.audit.models import AuditAction
from cs_register.audit.retention import AuditRetention
from cs_register.contacts import retention
from cs_register.contacts.retention import ContactRetention
from cs_register.context import job_context
from cs_register.customers.models import Customer
from cs_register.customers.personal_data import data_subject
from cs_register.db import Database
from cs_register.personal_data import (
    ErasureScope,
    ErasureTally,
    FilesStillStored,
    PersonalDataRegistry,
)
from cs_register.privacy.erasure_receipts import append_retention_receipt

log = logging.getLogger(__name__)

BATCH_SIZE = 500
# Audit events are single rows with nothing hanging on them.
AUDIT_BATCH_SIZE = 5000
# The monitor's allowance: a contact still here this long after its time was missed by the
# sweeps (they run every few minutes).
OVERDUE_AFTER = timedelta(hours=1)
CATEGORY = "contacts"


@dataclass
class DataSweepReport:
    removed: int = 0
    kept: int = 0
    batches: int = 0
    failed: int = 0
    dry_run: bool = False
    customers_removed: int = 0
    customers_kept: int = 0
    audit_events_removed: int = 0


def sweep_customer_service_data(
    database: Database,
    registry: PersonalDataRegistry,
    *,
    now: datetime,
    policy: ContactRetention,
    audit_policy: AuditRetention | None = None,
    job_id: str | None = None,
    batch_size: int = BATCH_SIZE,
    audit_batch_size: int = AUDIT_BATCH_SIZE,
    dry_run: bool = False,
) -> DataSweepReport:
    """Remove every contact past its time that nothing keeps, then every customer with no
    contact left whose period has passed, then (with `audit_policy`) the audit events past
    theirs; `dry_run` only counts."""
    report = DataSweepReport(dry_run=dry_run)
    due_before = policy.due_before(now)

    def contacts_batch(session: Session, ids: list[int]) -> tuple[int, int]:
        kept = registry.kept_contacts(session, ids)
        doomed = [contact_id for contact_id in ids if contact_id not in kept]
        if doomed and not dry_run:
            scope = ErasureScope(subject=None, contact_ids=frozenset(doomed))
            digest = retention.rows_digest(session, doomed)
            _remove(session, registry, CATEGORY, doomed, digest, [scope], due_before, now, job_id)
        return len(doomed), len(kept)

    def customers_batch(session: Session, ids: list[int]) -> tuple[int, int]:
        kept = registry.kept_customers(session, ids, due_before=due_before)
        doomed = [customer_id for customer_id in ids if customer_id not in kept]
        if doomed and not dry_run:
            customers = session.scalars(sa.select(Customer).where(Customer.id.in_(doomed)))
            # Their record only: contacts have their own time, and none is left anyway.
            scopes = [ErasureScope(data_subject(c), contact_ids=frozenset()) for c in customers]
            digest = retention.customers_digest(session, doomed)
            _remove(session, registry, "customers", doomed, digest, scopes, due_before, now, job_id)
        return len(doomed), len(kept)

    report.removed, report.kept = _in_batches(
        database, report, retention.past_their_time, contacts_batch, due_before, batch_size
    )
    report.customers_removed, report.customers_kept = _in_batches(
        database,
        report,
        retention.customers_without_contacts,
        customers_batch,
        due_before,
        batch_size,
    )
    if audit_policy is not None:
        report.audit_events_removed = _sweep_audit_trail(
            database, report, audit_policy.due_before(now), now, job_id, audit_batch_size
        )
    return report


def _sweep_audit_trail(
    database: Database,
    report: DataSweepReport,
    due_before: datetime,
    now: datetime,
    job_id: str | None,
    batch_size: int,
) -> int:
    """Remove the audit events past their time, one receipt per batch (appended before the
    delete: the database lets an event go only under one, `cs_register.audit.models`)."""

    def events_batch(session: Session, ids: list[int]) -> tuple[int, int]:
        if report.dry_run:
            return len(ids), 0
        receipt = append_retention_receipt(
            session,
            category=audit_retention.CATEGORY,
            row_ids=ids,
            rows_sha256=audit_retention.rows_digest(session, ids),
            tally=ErasureTally(erased={audit_retention.CATEGORY: len(ids)}),
            due_before=due_before,
            swept_at=now,
            job_id=job_id,
        )
        removed = audit_retention.delete_events(session, ids)
        audit.record(
            job_context(session, job_id=job_id, now=now),
            AuditAction.DATA_RETENTION_APPLIED,
            ("retention_receipt", str(receipt.sequence)),
            details={"category": audit_retention.CATEGORY, "removed": removed},
        )
        return removed, 0

    removed, _ = _in_batches(
        database, report, audit_retention.past_their_time, events_batch, due_before, batch_size
    )
    return removed


def _in_batches(
    database: Database,
    report: DataSweepReport,
    candidates: Callable[..., list[int]],
    handle: Callable[[Session, list[int]], tuple[int, int]],
    due_before: datetime,
    batch_size: int,
) -> tuple[int, int]:
    """Walk the candidates in id order, one transaction per batch; (removed, kept)."""
    removed = kept = after_id = 0
    while True:
        opened = database.read_only() if report.dry_run else database.unit_of_work()
        try:
            with opened as session:
                ids = candidates(
                    session,
                    due_before=due_before,
                    after_id=after_id,
                    limit=batch_size,
                    lock=not report.dry_run,
                )
                if not ids:
                    return removed, kept
                after_id = ids[-1]
                report.batches += 1
                gone, stayed = handle(session, ids)
                removed += gone
                kept += stayed
        except FilesStillStored as pending:
            # A file arrived for a row this old (the batch rolled back): the next sweep
            # looks again; the rest of this one carries on after it.
            log.warning("retention sweep: batch after row %s skipped: %s", after_id, pending)
            report.failed += 1


def _remove(
    session: Session,
    registry: PersonalDataRegistry,
    category: str,
    doomed: list[int],
    digest: str,
    scopes: list[ErasureScope],
    due_before: datetime,
    now: datetime,
    job_id: str | None,
) -> None:
    ctx = job_context(session, job_id=job_id, now=now)
    tally = ErasureTally()
    for scope in scopes:
        for category_name, count in registry.erase(ctx, scope).erased.items():
            tally.count(category_name, count)
    receipt = append_retention_receipt(
        session,
        category=category,
        row_ids=doomed,
        rows_sha256=digest,
        tally=tally,
        due_before=due_before,
        swept_at=now,
        job_id=job_id,
    )
    audit.record(
        ctx,
        AuditAction.DATA_RETENTION_APPLIED,
        ("retention_receipt", str(receipt.sequence)),
        details={"category": category, "removed": len(doomed), **tally.erased},
    )


def overdue_customers(
    session: Session, registry: PersonalDataRegistry, *, now: datetime, policy: ContactRetention
) -> int:
    """Customers with nothing left kept past their time (plus `OVERDUE_AFTER`) that nothing
    keeps."""
    due_before = policy.due_before(now) - OVERDUE_AFTER
    overdue = after_id = 0
    while ids := retention.customers_without_contacts(
        session, due_before=due_before, after_id=after_id, limit=BATCH_SIZE, lock=False
    ):
        after_id = ids[-1]
        overdue += len(ids) - len(registry.kept_customers(session, ids, due_before=due_before))
    return overdue


def overdue_audit_events(session: Session, *, now: datetime, policy: AuditRetention) -> int:
    """Audit events kept past their time (plus `OVERDUE_AFTER`)."""
    return audit_retention.count_due(session, due_before=policy.due_before(now) - OVERDUE_AFTER)


def overdue_contacts(
    session: Session, registry: PersonalDataRegistry, *, now: datetime, policy: ContactRetention
) -> int:
    """Contacts kept past their time (plus `OVERDUE_AFTER`) that nothing keeps: the monitor's
    count, zero when the sweeps run."""
    due_before = policy.due_before(now) - OVERDUE_AFTER
    overdue = after_id = 0
    while ids := retention.past_their_time(
        session, due_before=due_before, after_id=after_id, limit=BATCH_SIZE, lock=False
    ):
        after_id = ids[-1]
        overdue += len(ids) - len(registry.kept_contacts(session, ids))
    return overdue
