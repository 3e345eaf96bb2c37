"""The purge receipt ledger: an append-only, hash-chained list of proofs of deletion.

Each receipt's hash covers a canonical JSON of its own fields plus the previous receipt's hash,
so changing or removing any receipt breaks every link after it (`cs_register.hash_chain`).
`verify_ledger` walks the chain in order and names the first receipt whose link does not hold.

The code never updates or deletes a receipt; the database refuses to as well (triggers, see
`recordings.models`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.hash_chain import (
    GENESIS_HASH,
    ChainVerification,
    append,
    append_many,
    chain_hash,
    row_fields,
    verify_ledger_table,
)
from cs_register.permissions import Permission, StaffPrincipal, require
from recordings.models import PurgeReason, PurgeReceipt

__all__ = [
    "GENESIS_HASH",
    "LedgerVerification",
    "append_receipt",
    "append_receipts",
    "verify_ledger",
]

LedgerVerification = ChainVerification
# Arbitrary constant key of the PostgreSQL advisory lock that serialises appends to the chain.
LEDGER_LOCK_KEY = 0x5052_4345  # "PRCE"
_HASHED_FIELDS = (
    "sequence",
    "recording_id",
    "recording_public_id",
    "audio_sha256",
    "size_bytes",
    "reason",
    "recorded_at",
    "retain_until",
    "cap",
    "due_at",
    "purged_at",
    "job_id",
    "previous_hash",
)
# What a purge receipt's hash covers (a ledger export is verified against it too).
RECEIPT_HASHED_FIELDS = _HASHED_FIELDS


def receipt_fields(receipt: PurgeReceipt) -> dict[str, Any]:
    return row_fields(receipt, _HASHED_FIELDS)


def compute_receipt_hash(fields: Mapping[str, Any]) -> str:
    return chain_hash(fields, _HASHED_FIELDS)


def append_receipt(
    session: Session,
    *,
    reason: PurgeReason,
    purged_at: datetime,
    recording_id: int | None = None,
    recording_public_id: str | None = None,
    audio_sha256: str | None = None,
    size_bytes: int | None = None,
    recorded_at: datetime | None = None,
    retain_until: datetime | None = None,
    cap: datetime | None = None,
    due_at: datetime | None = None,
    job_id: str | None = None,
) -> PurgeReceipt:
    """Append one receipt to the chain in the caller's transaction (flushed, not committed)."""
    receipt = PurgeReceipt(
        recording_id=recording_id,
        recording_public_id=recording_public_id,
        audio_sha256=audio_sha256,
        size_bytes=size_bytes,
        reason=reason,
        recorded_at=recorded_at,
        retain_until=retain_until,
        cap=cap,
        due_at=due_at,
        purged_at=purged_at,
        job_id=job_id,
    )
    return append(session, receipt, _HASHED_FIELDS, LEDGER_LOCK_KEY)


def append_receipts(session: Session, receipts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Append a batch of receipts (each a dict of `append_receipt`'s fields), in order, in the
    caller's transaction: the chain's tail is read once and the batch inserted together."""
    return append_many(
        session, cast(sa.Table, PurgeReceipt.__table__), receipts, _HASHED_FIELDS, LEDGER_LOCK_KEY
    )


def verify_ledger(session: Session) -> LedgerVerification:
    """Recompute every receipt's hash in sequence order and check each link to its predecessor."""
    return verify_ledger_table(session, PurgeReceipt, _HASHED_FIELDS)


@dataclass(frozen=True)
class ReceiptPage:
    receipts: list[PurgeReceipt]
    # Sequence number to continue after (older receipts), when more exist.
    next_before: int | None


def list_receipts(session: Session, *, before: int | None = None, limit: int = 50) -> ReceiptPage:
    """Receipts newest first, keyset-paginated on the sequence number."""
    query = sa.select(PurgeReceipt).order_by(PurgeReceipt.sequence.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(PurgeReceipt.sequence < before)
    rows = list(session.scalars(query))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return ReceiptPage(receipts=rows, next_before=rows[-1].sequence if has_more and rows else None)


@dataclass(frozen=True)
class PurgeHistory:
    verification: LedgerVerification
    page: ReceiptPage


def view_purge_history(
    session: Session, *, actor: StaffPrincipal, before: int | None = None, limit: int = 50
) -> PurgeHistory:
    """The console's purge history: one page of receipts and the whole chain's verification."""
    require(actor, Permission.VIEW_PURGE_HISTORY)
    return PurgeHistory(
        verification=verify_ledger(session),
        page=list_receipts(session, before=before, limit=limit),
    )
