"""Append-only, hash-chained ledgers: proofs of deletion that show when one was altered.

Each row's hash covers a canonical JSON of its own fields plus the previous row's hash, so
changing or removing any row breaks every link after it. Two ledgers use this: the purge
receipts (`recordings.ledger`) and the erasure receipts (`cs_register.privacy.erasure_receipts`).
A ledger's model has `sequence` (1, 2, 3, ... without gaps), `previous_hash` and `receipt_hash`.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

GENESIS_HASH = "0" * 64
Row = TypeVar("Row")


def canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def chain_hash(fields: Mapping[str, Any], names: Iterable[str]) -> str:
    """SHA-256 over sorted-key, whitespace-free JSON of `names`: the same fields always hash
    the same."""
    text = json.dumps(
        {name: canonical(fields[name]) for name in names},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def row_fields(row: Any, names: Iterable[str]) -> dict[str, Any]:
    return {name: canonical(getattr(row, name)) for name in names}


def next_link(session: Session, table: sa.Table, lock_key: int) -> tuple[int, str]:
    """The next sequence number and the hash to link to, with the ledger locked for appends
    until the caller's transaction ends: only one transaction at a time reads the tail."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
    else:
        # SQLite: a write statement takes the database's single write lock for the rest of
        # the transaction, before the tail is read. It matches no row, so no trigger fires.
        session.execute(sa.update(table).where(sa.false()).values(id=table.c.id))
    tail = session.execute(
        sa.select(table.c.sequence, table.c.receipt_hash).order_by(table.c.sequence.desc()).limit(1)
    ).first()
    return (tail[0] + 1, tail[1]) if tail is not None else (1, GENESIS_HASH)


def append(session: Session, row: Row, names: tuple[str, ...], lock_key: int) -> Row:
    """Link `row` to the tail of its ledger (its `sequence` and `previous_hash`), hash it over
    `names` and add it, in the caller's transaction (flushed, not committed)."""
    receipt: Any = row  # any ledger model: sequence, previous_hash, receipt_hash
    receipt.sequence, receipt.previous_hash = next_link(session, receipt.__table__, lock_key)
    receipt.receipt_hash = chain_hash(row_fields(receipt, names), names)
    session.add(receipt)
    session.flush()
    return row


def append_many(
    session: Session,
    table: sa.Table,
    rows: list[dict[str, Any]],
    names: tuple[str, ...],
    lock_key: int,
) -> list[dict[str, Any]]:
    """Link `rows` (plain column values, in order) to the tail of their ledger and insert them
    with one statement, in the caller's transaction. The tail is read once, under the same
    lock as `append`, so a batch is as serialised as one receipt and costs one round trip."""
    if not rows:
        return rows
    sequence, previous_hash = next_link(session, table, lock_key)
    for row in rows:
        row["sequence"], row["previous_hash"] = sequence, previous_hash
        row["receipt_hash"] = chain_hash(row, names)
        sequence, previous_hash = sequence + 1, row["receipt_hash"]
    session.execute(sa.insert(table), rows)
    return rows


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    receipts: int
    # Id of the first receipt whose link or hash does not hold.
    first_broken: int | None = None
    problem: str | None = None


def verify_chain(rows: Iterable[Any], names: tuple[str, ...]) -> ChainVerification:
    """Walk `rows` (in sequence order), recomputing each hash and checking each link."""
    previous_hash = GENESIS_HASH
    expected_sequence = 1
    count = 0
    for row in rows:
        count += 1
        problem = None
        if row.sequence != expected_sequence:
            problem = (
                f"receipt {row.id} has sequence {row.sequence}, expected"
                f" {expected_sequence}: a receipt is missing"
            )
        elif row.previous_hash != previous_hash:
            problem = f"receipt {row.id} does not link to the receipt before it"
        elif chain_hash(row_fields(row, names), names) != row.receipt_hash:
            problem = f"receipt {row.id} was altered: its hash does not match its content"
        if problem is not None:
            return ChainVerification(ok=False, receipts=count, first_broken=row.id, problem=problem)
        previous_hash = row.receipt_hash
        expected_sequence += 1
    return ChainVerification(ok=True, receipts=count)


def verify_ledger_table(session: Session, model: Any, names: tuple[str, ...]) -> ChainVerification:
    """Verify the whole ledger stored as `model`, in sequence order, 500 rows at a time."""
    rows = session.execute(
        sa.select(model).order_by(model.sequence).execution_options(yield_per=500)
    ).scalars()
    return verify_chain(rows, names)
