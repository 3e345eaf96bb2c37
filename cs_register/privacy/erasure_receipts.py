"""The erasure receipt ledger: one hash-chained proof per erasure carried out.

Like the purge receipts (`recordings.ledger`), each receipt's hash covers its own fields and
the previous receipt's hash (`cs_register.hash_chain`), and the database refuses to change
or remove one. `flask retention verify` checks both chains. A receipt holds no personal data:
the case's and the former customer's public ids, counts per kind of record, what was kept
and why, the time and the job.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.hash_chain import ChainVerification, next_link, seal, verify_ledger_table
from cs_register.personal_data import ErasureTally
from cs_register.privacy.models import ErasureReceipt

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
    table: sa.Table = ErasureReceipt.__table__  # type: ignore[assignment]
    sequence, previous_hash = next_link(session, table, ERASURE_LEDGER_LOCK_KEY)
    receipt = ErasureReceipt(
        sequence=sequence,
        request_public_id=request_public_id,
        customer_public_id=customer_public_id,
        erased=dict(sorted(tally.erased.items())),
        kept=[asdict(item) for item in tally.kept],
        erased_at=erased_at,
        job_id=job_id[:128] if job_id else None,
        previous_hash=previous_hash,
    )
    seal(session, receipt, _HASHED_FIELDS)
    return receipt


def verify_erasure_ledger(session: Session) -> ChainVerification:
    return verify_ledger_table(session, ErasureReceipt, _HASHED_FIELDS)


def receipt_of(session: Session, request_public_id: str) -> ErasureReceipt | None:
    return session.scalar(
        sa.select(ErasureReceipt).where(ErasureReceipt.request_public_id == request_public_id)
    )
