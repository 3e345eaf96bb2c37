"""What agents and supervisors do with a chatbot handover: claim it, release it, assign it to
someone, close it with an outcome.

Who may do what:

- an agent claims an open handover nobody has, releases their own and closes their own (or
  an unclaimed one, which becomes theirs as it closes);
- a supervisor (`ASSIGN_HANDOVERS`) also assigns one to an active colleague who serves
  customers, takes it back from one (release) and closes anyone's.

Every change is a conditional UPDATE on what the step saw, so two people acting at once
cannot both succeed: the loser gets a `Conflict` naming who got there first. Repeating one's
own step (a double click) changes nothing and records nothing. The outcome note is free text
about a customer: it follows the rule for what staff type (`customers.staff_text`) and never
reaches the audit trail, whose details name the outcome and counts only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts.models import Contact
from cs_register.contacts.services import visible_contact
from cs_register.context import Context
from cs_register.customers.staff_text import validate_free_text
from cs_register.db import affected_rows
from cs_register.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from cs_register.identifiers import whole_number
from cs_register.intake.models import ChatbotConversation, HandoverOutcome
from cs_register.languages import N_, Message
from cs_register.permissions import ROLE_PERMISSIONS, Permission, has_permission, require
from cs_register.staff.models import StaffUser

OUTCOME_NOTE_MAX_LENGTH = 1000


@dataclass(frozen=True)
class Handover:
    contact: Contact
    conversation: ChatbotConversation


def find_handover(ctx: Context, contact_public_id: str) -> Handover:
    """The handover on a contact `ctx`'s actor may see: a restricted customer's does not
    exist for them (no claim, no note written about a person whose processing is
    restricted)."""
    contact = visible_contact(ctx, contact_public_id)
    conversation = ctx.session.scalar(
        sa.select(ChatbotConversation).where(ChatbotConversation.contact_id == contact.id)
    )
    if conversation is None or not conversation.needs_handover:
        raise NotFound("No chatbot handover for this contact.")
    return Handover(contact=contact, conversation=conversation)


def _name(session: Session, staff_id: int | None) -> str:
    staff = session.get(StaffUser, staff_id) if staff_id is not None else None
    return staff.display_name if staff is not None else N_("someone")


# What a closed handover refuses, by what was tried: whole sentences, to translate as such.
_CLOSED = {
    "claimed": N_("This handover was closed by %(closer)s; it cannot be claimed."),
    "released": N_("This handover was closed by %(closer)s; it cannot be released."),
    "assigned": N_("This handover was closed by %(closer)s; it cannot be assigned."),
    "closed again": N_("This handover was closed by %(closer)s; it cannot be closed again."),
}


def _refuse_if_closed(session: Session, conversation: ChatbotConversation, doing: str) -> None:
    if conversation.handover_closed_at is not None:
        closer = _name(session, conversation.handover_closed_by_id)
        raise Conflict(Message(_CLOSED[doing], closer=closer))


def _update_if_unchanged(
    session: Session, conversation: ChatbotConversation, values: Mapping[str, Any]
) -> bool:
    """Write `values` only if nobody closed or re-claimed the handover since it was read."""
    seen = conversation.handover_claimed_by_id
    claimed = ChatbotConversation.handover_claimed_by_id
    changed = affected_rows(
        session,
        sa.update(ChatbotConversation)
        .where(
            ChatbotConversation.id == conversation.id,
            ChatbotConversation.handover_closed_at.is_(None),
            claimed.is_(None) if seen is None else claimed == seen,
        )
        .values(dict(values))
        .execution_options(synchronize_session=False),
    )
    # Read what is stored now: the change, or what the other person did instead.
    session.refresh(conversation)
    return changed > 0


def _change(
    ctx: Context,
    handover: Handover,
    values: Mapping[str, Any],
    action: AuditAction,
    details: dict[str, Any],
) -> bool:
    """Write a step that someone else's step in between makes stale (409), with its audit
    row."""
    if not _update_if_unchanged(ctx.session, handover.conversation, values):
        raise Conflict("This handover changed meanwhile. Reload the queue.")
    audit.record(ctx, action, handover.contact, details=details)
    return True


def _taken_by_someone_else(session: Session, conversation: ChatbotConversation) -> Conflict:
    claimer = _name(session, conversation.handover_claimed_by_id)
    return Conflict(
        Message(
            "%(claimer)s has already claimed this handover. A supervisor can reassign it.",
            claimer=claimer,
        )
    )


def claim_handover(ctx: Context, *, contact_public_id: str) -> bool:
    """Make an open, unclaimed handover the acting agent's. False if it already was."""
    session, me = ctx.session, ctx.actor.staff_id
    require(ctx.actor, Permission.LOG_CONTACTS)
    handover = find_handover(ctx, contact_public_id)
    conversation = handover.conversation
    for _attempt in range(2):
        _refuse_if_closed(session, conversation, "claimed")
        if conversation.handover_claimed_by_id == me:
            return False
        if conversation.handover_claimed_by_id is not None:
            raise _taken_by_someone_else(session, conversation)
        values = {"handover_claimed_by_id": me, "handover_claimed_at": ctx.now}
        if _update_if_unchanged(session, conversation, values):
            audit.record(ctx, AuditAction.HANDOVER_CLAIMED, handover.contact, details={})
            return True
        # Lost a race: the refreshed row says to whom (or that it closed); decide again.
    raise Conflict("This handover changed while you claimed it. Reload the queue.")


def release_handover(ctx: Context, *, contact_public_id: str) -> bool:
    """Put a claimed handover back in the queue. False if nobody had it."""
    session, me = ctx.session, ctx.actor.staff_id
    require(ctx.actor, Permission.LOG_CONTACTS)
    handover = find_handover(ctx, contact_public_id)
    conversation = handover.conversation
    _refuse_if_closed(session, conversation, "released")
    holder = conversation.handover_claimed_by_id
    if holder is None:
        return False
    if holder != me and not has_permission(ctx.actor, Permission.ASSIGN_HANDOVERS):
        raise PermissionDenied(
            "Only the one who has this handover, or a supervisor, can release it."
        )
    values = {"handover_claimed_by_id": None, "handover_claimed_at": None}
    details = {"released_staff_id": holder, "own": holder == me}
    return _change(ctx, handover, values, AuditAction.HANDOVER_RELEASED, details)


def _assignee(session: Session, raw_staff_id: str | None) -> StaffUser:
    """The colleague chosen from the list: an active account whose role serves customers."""
    message = N_("Choose an active agent from the list.")
    refusal = ValidationFailed({"staff_id": [message]})
    # ASCII digits only, bounded: "²" passes str.isdigit() and then breaks int().
    staff_id = whole_number(raw_staff_id, minimum=1, maximum=2**31 - 1)
    if staff_id is None:
        raise refusal
    staff = session.get(StaffUser, staff_id)
    if (
        staff is None
        or not staff.is_active
        or Permission.LOG_CONTACTS not in ROLE_PERMISSIONS[staff.role]
    ):
        raise refusal
    return staff


def assign_handover(ctx: Context, *, contact_public_id: str, staff_id: str | None) -> bool:
    """A supervisor gives an open handover to a colleague (or moves it from one to another).
    False if it was theirs already."""
    session = ctx.session
    require(ctx.actor, Permission.ASSIGN_HANDOVERS)
    handover = find_handover(ctx, contact_public_id)
    assignee = _assignee(session, staff_id)
    conversation = handover.conversation
    _refuse_if_closed(session, conversation, "assigned")
    previous = conversation.handover_claimed_by_id
    if previous == assignee.id:
        return False
    values = {"handover_claimed_by_id": assignee.id, "handover_claimed_at": ctx.now}
    # Staff ids, not names: the trail names people through its own columns.
    details = {"assigned_staff_id": assignee.id, "previous_staff_id": previous}
    return _change(ctx, handover, values, AuditAction.HANDOVER_ASSIGNED, details)


@dataclass(frozen=True)
class Closing:
    outcome: HandoverOutcome
    note: str


def validate_closing(raw_outcome: str | None, raw_note: str | None) -> Closing:
    """The outcome and its note, or every problem with them at once."""
    errors: dict[str, list[str]] = {}
    outcome: HandoverOutcome | None = None
    try:
        outcome = HandoverOutcome(raw_outcome or "")
    except ValueError:
        errors["outcome"] = [N_("Choose how the handover ended.")]
    note = ""
    try:
        note = validate_free_text(
            raw_note,
            field="outcome_note",
            label=N_("Outcome note"),
            min_length=1,
            max_length=OUTCOME_NOTE_MAX_LENGTH,
        )
    except ValidationFailed as failure:
        errors.update(failure.errors)
    if errors or outcome is None:
        raise ValidationFailed(errors)
    return Closing(outcome=outcome, note=note)


def close_handover(
    ctx: Context,
    *,
    contact_public_id: str,
    outcome: str | None,
    note: str | None,
) -> bool:
    """Close a handover with its outcome; it leaves the queue. False for a repeat of one's own
    closing (a double click): nothing changes and nothing more is recorded."""
    session, me = ctx.session, ctx.actor.staff_id
    require(ctx.actor, Permission.LOG_CONTACTS)
    closing = validate_closing(outcome, note)
    handover = find_handover(ctx, contact_public_id)
    conversation = handover.conversation
    if conversation.handover_closed_at is not None:
        if conversation.handover_closed_by_id == me:
            return False
        _refuse_if_closed(session, conversation, "closed again")
    holder = conversation.handover_claimed_by_id
    if holder not in (None, me) and not has_permission(ctx.actor, Permission.ASSIGN_HANDOVERS):
        raise _taken_by_someone_else(session, conversation)
    values: dict[str, Any] = {
        "handover_closed_at": ctx.now,
        "handover_closed_by_id": me,
        "handover_outcome": closing.outcome,
        "handover_outcome_note": closing.note,
    }
    if holder is None:
        # Closing an unclaimed handover is taking it and finishing it at once.
        values |= {"handover_claimed_by_id": me, "handover_claimed_at": ctx.now}
    if not _update_if_unchanged(session, conversation, values):
        if conversation.handover_closed_by_id == me:
            return False  # the other click of the same double click won
        _refuse_if_closed(session, conversation, "closed again")
        raise _taken_by_someone_else(session, conversation)
    audit.record(
        ctx,
        AuditAction.HANDOVER_CLOSED,
        handover.contact,
        details={
            "waited_seconds": int((ctx.now - conversation.received_at).total_seconds()),
            "outcome": closing.outcome.value,
            "by_supervisor": holder not in (None, me),
        },
    )
    return True
