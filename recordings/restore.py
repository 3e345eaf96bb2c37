"""After a restore from backup, nothing purged or erased may come back.

A database backup is a copy of the register as it was; restoring one brings back every
recording purged and every customer erased since. The receipts are the memory that must
outlive it, so `flask retention export-ledgers FILE` writes the purge and erasure ledgers to a
file kept outside the database's backup set (run it after every sweep; it is small: ids,
digests, dates), and `flask retention reapply FILE` reads that file after a restore and does
again what its receipts prove was done:

- the file's chains are verified first (every hash and link, as `flask retention verify`
  checks the database's), so a damaged or edited file is refused before anything changes;
- a recording a purge receipt names that is not `purged` in the restored database is purged
  again, at once and whatever its holds say now: its files (which a restore of the storage
  may have brought back) are deleted and it gets a tombstone and a new receipt in the
  database's ledger, with the reason the original purge had;
- a customer an erasure receipt names who is back in the register is erased again through
  the erasure case the receipt names, when the restored database has that case; when it
  does not (the request was registered after the backup), the customer's public id is
  reported for the DPO to register the erasure again.

Run it before the workers start, so no job works on the restored data first. Purges and
erasures that came after the file was written are the next export's business: a file that
is older than the database's ledger still proves what it proves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.customers.models import Customer
from cs_register.db import Database
from cs_register.hash_chain import ChainVerification, canonical, verify_chain
from cs_register.personal_data import PersonalDataRegistry
from cs_register.privacy.erasure import carry_out_erasure
from cs_register.privacy.erasure_receipts import ERASURE_HASHED_FIELDS
from cs_register.privacy.models import ErasureReceipt, ErasureState, PrivacyRequest
from recordings.ledger import RECEIPT_HASHED_FIELDS
from recordings.models import PurgeReason, PurgeReceipt, Recording, RecordingState
from recordings.purge import finish_purge
from recordings.retention import RetentionPolicy
from recordings.storage import RecordingStorage

FORMAT = "cs-register-ledgers/1"
PURGE, ERASURE = "purge_receipt", "erasure_receipt"
_LEDGERS = (
    (PURGE, PurgeReceipt, RECEIPT_HASHED_FIELDS),
    (ERASURE, ErasureReceipt, ERASURE_HASHED_FIELDS),
)
_BATCH = 500


class LedgerFileRefused(ValueError):
    """The file is not a ledger export, or its chains do not hold: nothing was changed."""


def export_ledgers(session: Session, out: IO[str]) -> dict[str, int]:
    """Write both ledgers to `out` as JSON lines (a header, then one receipt a line, each
    ledger in sequence order, values as they are hashed); returns the count of each."""
    out.write(json.dumps({"format": FORMAT}) + "\n")
    counts: dict[str, int] = {}
    for kind, model, names in _LEDGERS:
        rows = session.scalars(
            sa.select(model).order_by(model.sequence).execution_options(yield_per=_BATCH)
        )
        counts[kind] = 0
        for row in rows:
            fields = {name: canonical(getattr(row, name)) for name in (*names, "receipt_hash")}
            out.write(json.dumps({"ledger": kind, **fields}, sort_keys=True) + "\n")
            counts[kind] += 1
    return counts


@dataclass
class LedgerFile:
    purges: list[dict[str, Any]] = field(default_factory=list)
    erasures: list[dict[str, Any]] = field(default_factory=list)


def read_ledger_file(lines: Iterable[str]) -> LedgerFile:
    """Parse and verify an export; `LedgerFileRefused` unless both chains hold."""
    found = LedgerFile()
    iterator: Iterator[str] = iter(lines)
    try:
        header = json.loads(next(iterator))
    except (StopIteration, ValueError):
        raise LedgerFileRefused("not a ledger export (no header line)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise LedgerFileRefused(f"not a ledger export (expected format {FORMAT})")
    for number, line in enumerate(iterator, start=2):
        try:
            entry = json.loads(line)
        except ValueError:
            raise LedgerFileRefused(f"line {number} is not JSON") from None
        kind = entry.pop("ledger", None) if isinstance(entry, dict) else None
        if kind == PURGE:
            found.purges.append(entry)
        elif kind == ERASURE:
            found.erasures.append(entry)
        else:
            raise LedgerFileRefused(f"line {number} is not a receipt")
    for name, entries, names in (
        ("purge", found.purges, RECEIPT_HASHED_FIELDS),
        ("erasure", found.erasures, ERASURE_HASHED_FIELDS),
    ):
        verification = _verify(entries, names)
        if not verification.ok:
            raise LedgerFileRefused(
                f"the {name} ledger in the file is broken: {verification.problem}"
            )
    return found


def _verify(entries: list[dict[str, Any]], names: tuple[str, ...]) -> ChainVerification:
    try:
        rows = [SimpleNamespace(id=entry["sequence"], **entry) for entry in entries]
        return verify_chain(rows, names)
    except (KeyError, TypeError) as error:
        return ChainVerification(ok=False, receipts=0, problem=f"a receipt lacks {error}")


@dataclass
class ReapplyReport:
    purge_receipts: int = 0
    erasure_receipts: int = 0
    recordings_purged_again: list[str] = field(default_factory=list)
    customers_erased_again: list[str] = field(default_factory=list)
    # Back in the register, but the restored database lacks the erasure case.
    customers_needing_a_new_request: list[str] = field(default_factory=list)


def reapply(
    database: Database,
    storage: RecordingStorage,
    registry: PersonalDataRegistry,
    ledgers: LedgerFile,
    *,
    now: Callable[[], datetime],
    policy: RetentionPolicy,
    job_id: str | None = None,
) -> ReapplyReport:
    """Purge and erase again whatever the restore brought back of what `ledgers` prove gone."""
    report = ReapplyReport(
        purge_receipts=len(ledgers.purges), erasure_receipts=len(ledgers.erasures)
    )
    reasons = {
        entry["recording_public_id"]: PurgeReason(entry["reason"])
        for entry in ledgers.purges
        if entry.get("recording_public_id")
    }
    public_ids = sorted(reasons)
    for start in range(0, len(public_ids), _BATCH):
        chunk = public_ids[start : start + _BATCH]
        report.recordings_purged_again += _purge_again(
            database,
            storage,
            {key: reasons[key] for key in chunk},
            now=now(),
            policy=policy,
            job_id=job_id,
        )
    for entry in ledgers.erasures:
        customer_public_id = entry["customer_public_id"]
        with database.unit_of_work() as session:
            customer = session.scalar(
                sa.select(Customer.id).where(Customer.public_id == customer_public_id)
            )
            if customer is None:
                continue
            case = session.scalar(
                sa.select(PrivacyRequest)
                .where(PrivacyRequest.public_id == entry["request_public_id"])
                .with_for_update()
            )
            if case is None or case.customer_id != customer:
                report.customers_needing_a_new_request.append(customer_public_id)
                continue
            # The restored case is as the backup had it (registered, or erasing): the receipt
            # proves the erasure was decided and done, so it is done again.
            case.erasure_state = ErasureState.ERASING
            case.erasure_started_at = case.erasure_started_at or now()
        if carry_out_erasure(
            database, registry, public_id=entry["request_public_id"], now=now, job_id=job_id
        ):
            report.customers_erased_again.append(customer_public_id)
    return report


def _purge_again(
    database: Database,
    storage: RecordingStorage,
    reasons: dict[str, PurgeReason],
    *,
    now: datetime,
    policy: RetentionPolicy,
    job_id: str | None,
) -> list[str]:
    """The purge's steps 1 to 3 for recordings a receipt proves purged, without asking
    whether they are due: the receipt is the answer. An erasure's purge keeps its reason."""
    with database.unit_of_work() as session:
        back = session.execute(
            sa.select(
                Recording.id, Recording.public_id, Recording.storage_key, Recording.playback_key
            )
            .where(Recording.public_id.in_(list(reasons)), Recording.state != RecordingState.PURGED)
            .order_by(Recording.id)
            .with_for_update()
        ).all()
        if not back:
            return []
        ids = [row.id for row in back]
        session.execute(
            sa.update(Recording).where(Recording.id.in_(ids)).values(state=RecordingState.PURGING)
        )
        erased = [row.id for row in back if reasons[row.public_id] is PurgeReason.ERASURE_REQUEST]
        if erased:
            session.execute(
                sa.update(Recording)
                .where(Recording.id.in_(erased), Recording.erasure_requested_at.is_(None))
                .values(erasure_requested_at=now)
            )
    for row in back:
        for key in (row.storage_key, row.playback_key):
            if key:
                storage.delete(key)
    with database.unit_of_work() as session:
        finish_purge(session, ids, now=now, policy=policy, job_id=job_id)
    return [row.public_id for row in back]
