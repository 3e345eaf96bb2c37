"""The life of a data-subject request: registered, started, extended, completed or refused.

Anyone serving customers registers a request as it arrives (it lands in the DPO's queue); the
data-protection officer carries it out; supervisors follow the queue read-only. Every step is
audited in the same transaction, with ids, kinds, statuses and dates only: what the person
asked and what they were answered stay in the case, never in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.clock import local_today
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.customers.rectification import RevisionView
from cs_register.customers.services import get_visible_customer
from cs_register.errors import Conflict, ValidationFailed
from cs_register.free_text import contains_identity_code
from cs_register.identifiers import IdentifierError, normalise_text
from cs_register.languages import N_, Message
from cs_register.lookup import by_public_id
from cs_register.permissions import Permission, has_permission, require
from cs_register.privacy import deadlines, validation
from cs_register.privacy.models import (
    OPEN_STATUSES,
    ErasureState,
    PrivacyRequest,
    RequestKind,
    RequestStatus,
)
from cs_register.received_via import ReceivedVia
from cs_register.staff.models import StaffUser

MAX_DESCRIPTION = 4000
MAX_ANSWER = 20_000
MAX_REPLY_TO = 200
# A request is registered as it arrives; one received more than this long ago is a typo.
MAX_BACKDATING = timedelta(days=365)
# GDPR article 77 and the Finnish Data Protection Act: the person may complain to the
# supervisory authority. Every refusal and every answer to a complaint says so.
OMBUDSMAN_NOTICE = (
    "You have the right to lodge a complaint with the supervisory authority, the Data"
    " Protection Ombudsman (tietosuojavaltuutettu), https://tietosuoja.fi."
)


# --- reading ------------------------------------------------------------------------------


def get_case(session: Session, public_id: str) -> PrivacyRequest:
    return by_public_id(session, PrivacyRequest, public_id, missing="No such privacy request.")


@dataclass(frozen=True)
class CaseView:
    case: PrivacyRequest
    customer: Customer | None
    registered_by: str | None
    handled_by: str | None
    urgency: deadlines.Urgency
    latest_extension_notice: date

    @property
    def can_extend(self) -> bool:
        return self.case.status.is_open and self.case.extension_months < (
            deadlines.MAX_EXTENSION_MONTHS
        )


def _names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {staff_id for staff_id in ids if staff_id is not None}
    if not wanted:
        return {}
    rows = session.execute(
        sa.select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(wanted))
    )
    return {staff_id: name for staff_id, name in rows}


def view_case(ctx: Context, *, public_id: str) -> CaseView:
    """A case with what its page shows; the viewing is audited."""
    require(ctx.actor, Permission.VIEW_PRIVACY_REQUESTS)
    case = get_case(ctx.session, public_id)
    customer = ctx.session.get(Customer, case.customer_id) if case.customer_id else None
    names = _names(ctx.session, (case.registered_by_id, case.handled_by_id))
    audit.record(ctx, AuditAction.PRIVACY_REQUEST_VIEWED, case)
    return CaseView(
        case=case,
        customer=customer,
        registered_by=names.get(case.registered_by_id or 0),
        handled_by=names.get(case.handled_by_id or 0),
        urgency=deadlines.urgency(case.due_on, local_today(ctx.now), is_open=case.status.is_open),
        latest_extension_notice=deadlines.latest_extension_notice(case.received_on),
    )


@dataclass(frozen=True)
class QueueRow:
    case: PrivacyRequest
    customer_name: str | None
    urgency: deadlines.Urgency


# The queue's status filter: one status, every open case (the default), or everything.
OPEN_FILTER = "open"
ALL_FILTER = "all"


def queue(ctx: Context, *, kind: str = "", status: str = OPEN_FILTER) -> list[QueueRow]:
    """Cases by due date (the most urgent first), filtered by kind and status; audited with
    the number of cases shown."""
    require(ctx.actor, Permission.VIEW_PRIVACY_REQUESTS)
    errors: dict[str, list[str]] = {}
    query = sa.select(PrivacyRequest, Customer).outerjoin(
        Customer, Customer.id == PrivacyRequest.customer_id
    )
    if kind:
        chosen_kind = validation.choice(errors, "kind", kind, RequestKind, label=N_("request type"))
        query = query.where(PrivacyRequest.kind == chosen_kind)
    if status == OPEN_FILTER:
        open_statuses = [member for member in RequestStatus if member.is_open]
        query = query.where(PrivacyRequest.status.in_(open_statuses))
    elif status != ALL_FILTER:
        chosen_status = validation.choice(
            errors, "status", status, RequestStatus, label=N_("status")
        )
        query = query.where(PrivacyRequest.status == chosen_status)
    if errors:
        raise ValidationFailed(errors)
    today = local_today(ctx.now)
    rows = [
        QueueRow(
            case=case,
            customer_name=customer.full_name if customer is not None else None,
            urgency=deadlines.urgency(case.due_on, today, is_open=case.status.is_open),
        )
        for case, customer in ctx.session.execute(
            query.order_by(PrivacyRequest.due_on, PrivacyRequest.id)
        ).all()
    ]
    audit.record(
        ctx,
        AuditAction.PRIVACY_QUEUE_VIEWED,
        ("privacy_queue", None),
        details={"kind": kind or None, "status": status, "shown": len(rows)},
    )
    return rows


def has_open_case(session: Session, customer_id: int) -> bool:
    """Whether a privacy request of the customer's is still open (the DPO may then open their
    recordings)."""
    found = session.scalar(
        sa.select(PrivacyRequest.id)
        .where(PrivacyRequest.customer_id == customer_id, PrivacyRequest.status.in_(OPEN_STATUSES))
        .limit(1)
    )
    return found is not None


def customers_with_open_cases() -> sa.Select[int | None]:
    """The ids of customers a request still open concerns, as a subquery."""
    return sa.select(PrivacyRequest.customer_id).where(
        PrivacyRequest.status.in_(OPEN_STATUSES), PrivacyRequest.customer_id.is_not(None)
    )


def corrections_during(
    case: PrivacyRequest, revisions: Iterable[RevisionView]
) -> list[RevisionView]:
    """The customer's corrections made while the case was open: a rectification case shows
    them as its before and after (nothing is stored twice)."""
    return [
        revision
        for revision in revisions
        if revision.changed_at >= case.registered_at
        and (case.closed_at is None or revision.changed_at <= case.closed_at)
    ]


def cases_of_customer(session: Session, customer_id: int) -> list[PrivacyRequest]:
    """A customer's cases, newest first, for their page (which audits its own viewing)."""
    return list(
        session.scalars(
            sa.select(PrivacyRequest)
            .where(PrivacyRequest.customer_id == customer_id)
            .order_by(PrivacyRequest.received_on.desc(), PrivacyRequest.id.desc())
        )
    )


# --- the steps ----------------------------------------------------------------------------


def register_request(
    ctx: Context,
    *,
    kind: str,
    channel: str,
    received_on: str,
    description: str,
    verified: Iterable[str] = (),
    reply_to: str = "",
    customer_public_id: str | None,
) -> PrivacyRequest:
    """Register a request as it arrived; due one calendar month after it was received.

    Without a customer (the requester is not in the register) only the DPO registers it,
    after a search; the answer is then "no data held".
    """
    require(ctx.actor, Permission.REGISTER_PRIVACY_REQUESTS)
    if customer_public_id is None and not has_permission(
        ctx.actor, Permission.HANDLE_PRIVACY_REQUESTS
    ):
        message = N_("Register the request from the customer's page.")
        raise ValidationFailed({"customer": [message]})
    customer = get_visible_customer(ctx, customer_public_id) if customer_public_id else None
    errors: dict[str, list[str]] = {}
    request_kind = validation.choice(errors, "kind", kind, RequestKind, label=N_("request type"))
    request_channel = validation.choice(
        errors, "channel", channel, ReceivedVia, label=N_("channel")
    )
    received = validation.day(errors, "received_on", received_on, label=N_("Date received"))
    today = local_today(ctx.now)
    if received is not None and received > today:
        errors["received_on"] = [N_("Date received cannot be in the future.")]
    elif received is not None and received < today - MAX_BACKDATING:
        errors["received_on"] = [N_("Date received is more than a year ago; check the date.")]
    clean_description = validation.text(
        errors, "description", description, label=N_("What was asked"), max_length=MAX_DESCRIPTION
    )
    try:
        clean_reply_to = normalise_text(
            reply_to, label=N_("Reply to"), max_length=MAX_REPLY_TO, required=customer is None
        )
    except IdentifierError as problem:
        errors["reply_to"] = [problem.message]
        clean_reply_to = ""
    if clean_reply_to and contains_identity_code(clean_reply_to):
        errors["reply_to"] = [N_("Reply to must not contain an identity code.")]
    checked = validation.verified(errors, verified)
    if errors or request_kind is None or request_channel is None or received is None:
        raise ValidationFailed(errors)
    case = PrivacyRequest(
        kind=request_kind,
        status=RequestStatus.RECEIVED,
        customer_id=customer.id if customer is not None else None,
        channel=request_channel,
        received_on=received,
        due_on=deadlines.due_on(received),
        verified_identifiers=checked,
        description=clean_description,
        reply_to=clean_reply_to,
        registered_at=ctx.now,
        registered_by_id=ctx.actor.staff_id,
    )
    ctx.session.add(case)
    ctx.session.flush()
    audit.record(
        ctx,
        AuditAction.PRIVACY_REQUEST_REGISTERED,
        case,
        details={
            "kind": case.kind.value,
            "channel": case.channel.value,
            "customer": customer.public_id if customer is not None else None,
            "received_on": case.received_on.isoformat(),
            "due_on": case.due_on.isoformat(),
            "verified": checked,
        },
    )
    return case


# What an answered case says to a step tried on it, by its status: whole sentences to translate.
_ALREADY_ANSWERED = {
    RequestStatus.COMPLETED: N_("This request is already completed."),
    RequestStatus.REFUSED: N_("This request is already refused."),
}


def refuse_if_answered(case: PrivacyRequest) -> None:
    """A Conflict if `case` is no longer open."""
    if not case.status.is_open:
        raise Conflict(_ALREADY_ANSWERED[case.status])


def open_case(ctx: Context, public_id: str) -> PrivacyRequest:
    require(ctx.actor, Permission.HANDLE_PRIVACY_REQUESTS)
    case = get_case(ctx.session, public_id)
    refuse_if_answered(case)
    return case


def _closable(ctx: Context, public_id: str) -> PrivacyRequest:
    """An open case the DPO may answer by hand: not one whose erasure is under way (that
    case is completed by the erasure itself, with its outcome)."""
    case = open_case(ctx, public_id)
    if case.erasure_state is ErasureState.ERASING:
        raise Conflict("The erasure is under way; the case is completed when it is done.")
    return case


def start_case(ctx: Context, *, public_id: str) -> PrivacyRequest:
    """The DPO takes the case: received -> in progress."""
    case = open_case(ctx, public_id)
    if case.status is RequestStatus.IN_PROGRESS:
        raise Conflict("This request is already in progress.")
    case.status = RequestStatus.IN_PROGRESS
    case.handled_by_id = ctx.actor.staff_id
    case.started_at = ctx.now
    ctx.session.flush()
    audit.record(ctx, AuditAction.PRIVACY_REQUEST_STARTED, case)
    return case


def extend_case(
    ctx: Context, *, public_id: str, months: str, justification: str, told_on: str
) -> PrivacyRequest:
    """Extend the deadline to 2 or 3 months after receipt, with the reason the person was told
    (GDPR article 12(3)); the person must have been told within the first month."""
    case = open_case(ctx, public_id)
    errors: dict[str, list[str]] = {}
    try:
        total = int(months)
    except ValueError:
        total = -1
    if not case.extension_months < total <= deadlines.MAX_EXTENSION_MONTHS:
        errors["months"] = [
            Message(
                "Extend by more than the current %(current)d month(s), at most %(maximum)d in all.",
                current=case.extension_months,
                maximum=deadlines.MAX_EXTENSION_MONTHS,
            )
        ]
    clean_justification = validation.reason(
        errors, "justification", justification, label=N_("Justification")
    )
    told = validation.day(errors, "told_on", told_on, label=N_("Date the person was told"))
    latest = deadlines.latest_extension_notice(case.received_on)
    if told is not None and "told_on" not in errors:
        if told > local_today(ctx.now):
            errors["told_on"] = [N_("The person cannot have been told in the future.")]
        elif told < case.received_on:
            errors["told_on"] = [N_("The person cannot have been told before the request arrived.")]
        elif told > latest:
            errors["told_on"] = [
                Message(
                    "The person had to be told within the first month, by %(date)s; the"
                    " deadline cannot be extended now.",
                    date=latest.strftime("%d.%m.%Y"),
                )
            ]
    if errors or told is None:
        raise ValidationFailed(errors)
    case.extension_months = total
    case.extension_justification = clean_justification
    case.extension_told_on = told
    case.due_on = deadlines.due_on(case.received_on, total)
    ctx.session.flush()
    audit.record(
        ctx,
        AuditAction.PRIVACY_REQUEST_EXTENDED,
        case,
        details={"extension_months": total, "due_on": case.due_on.isoformat()},
    )
    return case


def _with_ombudsman_notice(answer: str) -> str:
    return answer if OMBUDSMAN_NOTICE in answer else f"{answer}\n\n{OMBUDSMAN_NOTICE}"


def complete_case(ctx: Context, *, public_id: str, answer: str) -> PrivacyRequest:
    """Close the case with the written answer the person was given."""
    case = _closable(ctx, public_id)
    errors: dict[str, list[str]] = {}
    clean_answer = validation.text(
        errors, "answer", answer, label=N_("Answer"), max_length=MAX_ANSWER
    )
    if errors:
        raise ValidationFailed(errors)
    if case.kind is RequestKind.COMPLAINT:
        clean_answer = _with_ombudsman_notice(clean_answer)
    close_case(ctx, case, RequestStatus.COMPLETED, clean_answer)
    audit.record(
        ctx,
        AuditAction.PRIVACY_REQUEST_COMPLETED,
        case,
        details={"on_time": local_today(ctx.now) <= case.due_on},
    )
    return case


def refuse_case(ctx: Context, *, public_id: str, legal_reason: str, answer: str) -> PrivacyRequest:
    """Refuse the request, with its legal reason; the answer tells the person they may
    complain to the Data Protection Ombudsman."""
    case = _closable(ctx, public_id)
    errors: dict[str, list[str]] = {}
    clean_reason = validation.reason(errors, "legal_reason", legal_reason, label=N_("Legal reason"))
    clean_answer = validation.text(
        errors, "answer", answer, label=N_("Answer"), max_length=MAX_ANSWER
    )
    if errors:
        raise ValidationFailed(errors)
    case.refusal_reason = clean_reason
    close_case(ctx, case, RequestStatus.REFUSED, _with_ombudsman_notice(clean_answer))
    audit.record(
        ctx,
        AuditAction.PRIVACY_REQUEST_REFUSED,
        case,
        details={"on_time": local_today(ctx.now) <= case.due_on},
    )
    return case


def close_case(ctx: Context, case: PrivacyRequest, status: RequestStatus, answer: str) -> None:
    """The case's last state change (its audit event is the caller's: it says more)."""
    case.status = status
    case.answer = answer
    case.closed_at = ctx.now
    if case.handled_by_id is None:
        case.handled_by_id = ctx.actor.staff_id
    if case.started_at is None:
        case.started_at = ctx.now
    ctx.session.flush()
