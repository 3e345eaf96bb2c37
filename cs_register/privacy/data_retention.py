"""The retention sweep for customer-service data other than recordings: contacts leave when
their time is up (`cs_register.contacts.retention`), through the personal-data registry.

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
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts import retention
from cs_register.contacts.retention import ContactRetention
from cs_register.context import job_context
from cs_register.db import Database
from cs_register.personal_data import ErasureScope, FilesStillStored, PersonalDataRegistry
from cs_register.privacy.erasure_receipts import append_retention_receipt

log = logging.getLogger(__name__)

BATCH_SIZE = 500
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


def sweep_contacts(
    database: Database,
    registry: PersonalDataRegistry,
    *,
    now: datetime,
    policy: ContactRetention,
    job_id: str | None = None,
    batch_size: int = BATCH_SIZE,
    dry_run: bool = False,
) -> DataSweepReport:
    """Remove every contact past its time that nothing keeps; `dry_run` only counts."""
    report = DataSweepReport(dry_run=dry_run)
    due_before = policy.due_before(now)
    after_id = 0
    while True:
        opened = database.read_only() if dry_run else database.unit_of_work()
        try:
            with opened as session:
                ids = retention.past_their_time(
                    session,
                    due_before=due_before,
                    after_id=after_id,
                    limit=batch_size,
                    lock=not dry_run,
                )
                if not ids:
                    break
                after_id = ids[-1]
                report.batches += 1
                kept = registry.kept_contacts(session, ids)
                report.kept += len(kept)
                doomed = [contact_id for contact_id in ids if contact_id not in kept]
                if dry_run:
                    report.removed += len(doomed)
                elif doomed:
                    _remove(session, registry, doomed, due_before, now, job_id)
                    report.removed += len(doomed)
        except FilesStillStored as pending:
            # A recording arrived for a contact this old (the batch rolled back): the next
            # sweep looks again; the rest of this one carries on after it.
            log.warning("retention sweep: batch after contact %s skipped: %s", after_id, pending)
            report.failed += 1
    return report


def _remove(
    session: Session,
    registry: PersonalDataRegistry,
    doomed: list[int],
    due_before: datetime,
    now: datetime,
    job_id: str | None,
) -> None:
    ctx = job_context(session, job_id=job_id, now=now)
    digest = retention.rows_digest(session, doomed)
    tally = registry.erase(ctx, ErasureScope(subject=None, contact_ids=frozenset(doomed)))
    receipt = append_retention_receipt(
        session,
        category=CATEGORY,
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
        details={"category": CATEGORY, "removed": len(doomed), **tally.erased},
    )


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
