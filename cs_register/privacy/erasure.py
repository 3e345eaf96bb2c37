"""Erasure: removing a person from the register through the personal-data registry.

The DPO starts it on an erasure case (`begin_erasure`: one audited transaction that marks the
case `erasing`); a job, the periodic run, or `flask privacy erase` carries it out
(`carry_out_erasure`), in two steps:

1. **Files.** Every `FileEraser` deletes its stored files about the person, each in its own
   crash-safe steps: recordings go through the purge state machine with reason
   `erasure_request`, each leaving its purge receipt; a recording under a complaint hold is
   kept until that hold ends (`recordings.retention`). The person's downloads go too.
2. **Rows, in one transaction.** Every `ErasableSource` deletes its rows (last registered
   first, so what points at the customer goes before the customer); the erasure receipt is
   appended to its chain; the case is completed with the outcome (what went, what was kept
   and why) as its answer; audited.

Killed during step 1, some files are gone and every row is still there: the next run
(the job retried, or the periodic run, which resumes every case left `erasing`) deletes the
rest; deleting again is harmless. Killed during step 2, the transaction rolls back. So the
register is never half-erased: either the person's rows are all there or none are. A file
that appears between the steps (a call recorded meanwhile) makes step 2 refuse
(`FilesStillStored`) and step 1 runs again.

Audit events about the person stay: they carry ids only, and the rows they name are gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.clock import local_today
from cs_register.context import Context, job_context
from cs_register.customers.models import Customer
from cs_register.customers.personal_data import data_subject
from cs_register.db import Database
from cs_register.errors import Conflict
from cs_register.personal_data import (
    ErasureRun,
    ErasureTally,
    FilesStillStored,
    PersonalDataRegistry,
)
from cs_register.privacy.cases import close_case, open_case
from cs_register.privacy.erasure_receipts import append_erasure_receipt
from cs_register.privacy.models import (
    ErasureReceipt,
    ErasureState,
    PrivacyRequest,
    RequestKind,
    RequestStatus,
)

log = logging.getLogger(__name__)

# Files are deleted again when one appeared between the steps; a person whose calls keep
# arriving faster than this is not erased in this run (the periodic run tries again).
MAX_ROUNDS = 3


@dataclass(frozen=True)
class ErasureOutcome:
    request_public_id: str
    receipt: ErasureReceipt


def begin_erasure(ctx: Context, *, public_id: str) -> PrivacyRequest:
    """The DPO decides to erase: the case becomes `erasing` (and in progress); a worker does
    the rest. Refused for another kind of case, or when the register holds nothing."""
    case = open_case(ctx, public_id)
    if case.kind is not RequestKind.ERASURE:
        raise Conflict("Only an erasure request erases the customer.")
    if case.erasure_state is not None:
        raise Conflict("The erasure is already under way.")
    if case.customer_id is None or ctx.session.get(Customer, case.customer_id) is None:
        raise Conflict(
            "The register holds no data about this requester: complete the case with the"
            " answer that no data is held."
        )
    case.erasure_state = ErasureState.ERASING
    case.erasure_started_at = ctx.now
    if case.status is RequestStatus.RECEIVED:
        case.status = RequestStatus.IN_PROGRESS
        case.started_at = ctx.now
    case.handled_by_id = case.handled_by_id or ctx.actor.staff_id
    ctx.session.flush()
    audit.record(ctx, AuditAction.PRIVACY_ERASURE_STARTED, case)
    return case


def erasures_to_resume(session: Session) -> list[str]:
    """Cases left `erasing` (never run, or stopped part-way): the periodic run finishes them."""
    return list(
        session.scalars(
            sa.select(PrivacyRequest.public_id)
            .where(PrivacyRequest.erasure_state == ErasureState.ERASING)
            .order_by(PrivacyRequest.erasure_started_at, PrivacyRequest.id)
        )
    )


def _case_and_customer(
    session: Session, public_id: str, *, lock: bool = False
) -> tuple[PrivacyRequest, Customer | None]:
    query = sa.select(PrivacyRequest).where(PrivacyRequest.public_id == public_id)
    case = session.scalar(query.with_for_update() if lock else query)
    if case is None:
        raise Conflict("No such privacy request.")
    customer = session.get(Customer, case.customer_id) if case.customer_id else None
    return case, customer


def carry_out_erasure(
    database: Database,
    registry: PersonalDataRegistry,
    *,
    public_id: str,
    now: Callable[[], datetime],
    job_id: str | None = None,
) -> ErasureOutcome | None:
    """Erase the case's customer (idempotent, resumable); None when there is nothing to do
    (the case is not erasing, or it was finished by another run)."""
    for _ in range(MAX_ROUNDS):
        with database.read_only() as session:
            case, customer = _case_and_customer(session, public_id)
            if case.erasure_state is not ErasureState.ERASING or customer is None:
                return None
            scope = registry.erasure_scope(session, data_subject(customer))
        registry.erase_files(ErasureRun(database=database, now=now(), job_id=job_id), scope)
        try:
            with database.unit_of_work() as session:
                return _erase_rows(session, registry, public_id, now(), job_id)
        except FilesStillStored as pending:
            log.info("erasure of request %s: %s still stored; deleting again", public_id, pending)
    _note_failure(database, public_id, "files kept arriving while the customer was erased")
    return None


def _erase_rows(
    session: Session,
    registry: PersonalDataRegistry,
    public_id: str,
    at: datetime,
    job_id: str | None,
) -> ErasureOutcome | None:
    ctx = job_context(session, job_id=job_id, now=at)
    case, customer = _case_and_customer(session, public_id, lock=True)
    if case.erasure_state is not ErasureState.ERASING or customer is None:
        return None
    customer_public_id = customer.public_id
    # Contacts that arrived since the file step are in scope too: the scope is read again
    # inside the transaction that deletes.
    scope = registry.erasure_scope(session, data_subject(customer))
    tally = registry.erase(ctx, scope)
    receipt = append_erasure_receipt(
        session,
        request_public_id=case.public_id,
        customer_public_id=customer_public_id,
        tally=tally,
        erased_at=at,
        job_id=job_id,
    )
    case.erasure_state = ErasureState.ERASED
    case.erasure_failure = None
    close_case(ctx, case, RequestStatus.COMPLETED, outcome_answer(tally, at))
    audit.record(
        ctx,
        AuditAction.PRIVACY_ERASURE_COMPLETED,
        case,
        details={
            "erasure_receipt": receipt.sequence,
            "kept": len(tally.kept),
            "on_time": local_today(at) <= case.due_on,
        },
    )
    return ErasureOutcome(request_public_id=case.public_id, receipt=receipt)


def _note_failure(database: Database, public_id: str, why: str) -> None:
    log.error("erasure of request %s stopped: %s; the periodic run retries it", public_id, why)
    with database.unit_of_work() as session:
        session.execute(
            sa.update(PrivacyRequest)
            .where(PrivacyRequest.public_id == public_id)
            .values(erasure_failure=why[:200])
        )


def outcome_answer(tally: ErasureTally, at: datetime) -> str:
    """The answer the person is given: what was erased, and what was kept and why."""
    lines = [f"Your personal data was erased from the customer-service register on {at:%d.%m.%Y}."]
    lines += ["", "Erased:"]
    lines += [f"- {category}: {count}" for category, count in sorted(tally.erased.items())]
    if tally.kept:
        lines += ["", "Kept, and why:"]
        lines += [f"- {item.category} ({item.reference}): {item.why}" for item in tally.kept]
    return "\n".join(lines)
