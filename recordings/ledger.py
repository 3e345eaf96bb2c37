"""The purge receipt ledger: an append-only, hash-chained list of proofs of deletion.

Each receipt's hash covers a canonical JSON of its own fields plus the previous receipt's hash,
so changing or removing any receipt breaks every link after it. `verify_ledger` walks the chain
in order and names the first receipt whose link does not hold.

The code never updates or deletes a receipt; the database refuses to as well (triggers, see
`recordings.models`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.permissions import Permission, StaffPrincipal, require
from recordings.models import PurgeReason, PurgeReceipt

GENESIS_HASH = "0" * 64
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


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, PurgeReason):
        return value.value
    return value


def receipt_fields(receipt: PurgeReceipt) -> dict[str, Any]:
    return {name: _canonical(getattr(receipt, name)) for name in _HASHED_FIELDS}


def compute_receipt_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 over sorted-key, whitespace-free JSON: the same fields always hash the same."""
    canonical = json.dumps(
        {name: _canonical(fields[name]) for name in _HASHED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _serialise_appends(session: Session) -> None:
    """Only one transaction at a time may read the chain's tail and append to it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEDGER_LOCK_KEY})
    else:
        # SQLite: a write statement takes the database's single write lock for the rest of
        # the transaction, before the tail is read. It matches no row, so no trigger fires.
        session.execute(sa.text("UPDATE purge_receipts SET id = id WHERE 0 = 1"))


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
    _serialise_appends(session)
    tail = session.execute(
        sa.select(PurgeReceipt.sequence, PurgeReceipt.receipt_hash)
        .order_by(PurgeReceipt.sequence.desc())
        .limit(1)
    ).first()
    sequence, previous_hash = (tail[0] + 1, tail[1]) if tail is not None else (1, GENESIS_HASH)
    receipt = PurgeReceipt(
        sequence=sequence,
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
        previous_hash=previous_hash,
    )
    receipt.receipt_hash = compute_receipt_hash(receipt_fields(receipt))
    session.add(receipt)
    session.flush()
    return receipt


@dataclass(frozen=True)
class LedgerVerification:
    ok: bool
    receipts: int
    # Id of the first receipt whose link or hash does not hold.
    first_broken: int | None = None
    problem: str | None = None


def verify_ledger(session: Session) -> LedgerVerification:
    """Recompute every receipt's hash in sequence order and check each link to its predecessor."""
    previous_hash = GENESIS_HASH
    expected_sequence = 1
    count = 0
    rows = session.execute(
        sa.select(PurgeReceipt).order_by(PurgeReceipt.sequence).execution_options(yield_per=500)
    ).scalars()
    for receipt in rows:
        count += 1
        problem = None
        if receipt.sequence != expected_sequence:
            problem = (
                f"receipt {receipt.id} has sequence {receipt.sequence}, expected"
                f" {expected_sequence}: a receipt is missing"
            )
        elif receipt.previous_hash != previous_hash:
            problem = f"receipt {receipt.id} does not link to the receipt before it"
        elif compute_receipt_hash(receipt_fields(receipt)) != receipt.receipt_hash:
            problem = f"receipt {receipt.id} was altered: its hash does not match its content"
        if problem is not None:
            return LedgerVerification(
                ok=False, receipts=count, first_broken=receipt.id, problem=problem
            )
        previous_hash = receipt.receipt_hash
        expected_sequence += 1
    return LedgerVerification(ok=True, receipts=count)


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
