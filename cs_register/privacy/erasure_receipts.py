"""The erasure and retention receipt ledgers: one hash-chained proof per erasure carried out,
and one per batch of customer-service data removed when its time was up.

Like the purge receipts (`recordings.ledger`), each receipt's hash covers its own fields and
the previous receipt's hash (`cs_register.hash_chain`), and the database refuses to change
or remove one. `flask retention verify` checks both chains. A receipt holds no personal data:
the case's and the former customer's public ids, counts per kind of record, what was kept
and why, the time and the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.hash_chain import ChainVerification, append, verify_ledger_table
from cs_register.personal_data import ErasureTally
from cs_register.privacy.models import ErasureReceipt, RetentionReceipt

# Arbitrary constant key of the PostgreSQL advisory lock that serialises appends.
ERASURE_LEDGER_LOCK_KEY = 0x4552_4153  # "ERAS"
_HASHED_FIELDS = (
    "sequence",
    "request_public_id",
    "customer_public_id",
    "erased",
    "kept",
    "erased_at",
    "job_id",
    "previous_hash",
)
# What an erasure receipt's hash covers (a ledger export is verified against it too).
ERASURE_HASHED_FIELDS = _HASHED_FIELDS


def append_erasure_receipt(
    session: Session,
    *,
    request_public_id: str,
    customer_public_id: str,
    tally: ErasureTally,
    erased_at: datetime,
    job_id: str | None,
) -> ErasureReceipt:
    """Append one receipt in the caller's transaction (flushed, not committed)."""
    receipt = ErasureReceipt(
        request_public_id=request_public_id,
        customer_public_id=customer_public_id,
        erased=dict(sorted(tally.erased.items())),
        kept=[asdict(item) for item in tally.kept],
        erased_at=erased_at,
        job_id=job_id[:128] if job_id else None,
    )
    return append(session, receipt, _HASHED_FIELDS, ERASURE_LEDGER_LOCK_KEY)


def verify_erasure_ledger(session: Session) -> ChainVerification:
    return verify_ledger_table(session, ErasureReceipt, _HASHED_FIELDS)


def receipt_of(session: Session, request_public_id: str) -> ErasureReceipt | None:
    return session.scalar(
        sa.select(ErasureReceipt).where(ErasureReceipt.request_public_id == request_public_id)
    )


# --- the retention receipts: one per batch of customer-service data past its time ---------

RETENTION_LEDGER_LOCK_KEY = 0x5245_5445  # "RETE"
_RETENTION_FIELDS = (
    "sequence",
    "category",
    "removed",
    "first_id",
    "last_id",
    "rows_sha256",
    "erased",
    "due_before",
    "swept_at",
    "job_id",
    "previous_hash",
)


def append_retention_receipt(
    session: Session,
    *,
    category: str,
    row_ids: Sequence[int],
    rows_sha256: str,
    tally: ErasureTally,
    due_before: datetime,
    swept_at: datetime,
    job_id: str | None,
) -> RetentionReceipt:
    receipt = RetentionReceipt(
        category=category,
        removed=len(row_ids),
        first_id=min(row_ids),
        last_id=max(row_ids),
        rows_sha256=rows_sha256,
        erased=dict(sorted(tally.erased.items())),
        due_before=due_before,
        swept_at=swept_at,
        job_id=job_id[:128] if job_id else None,
    )
    return append(session, receipt, _RETENTION_FIELDS, RETENTION_LEDGER_LOCK_KEY)


def verify_retention_ledger(session: Session) -> ChainVerification:
    return verify_ledger_table(session, RetentionReceipt, _RETENTION_FIELDS)
