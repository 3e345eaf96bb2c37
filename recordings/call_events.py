"""Live call events from the PBX: a call is ringing for an agent, or an agent answered it.

They feed the agent's screen pop (`recordings.live_calls`). The first event for a call opens it
the same way the finished call's report does (`intake.open_call`: the call and its phone
contact, linked when the number is exactly one customer's), so the later report and the
recording upload find this call and this contact: one call, one contact.

Idempotent per (call, event): the PBX retries after timeouts, and a repeated "ringing" or
"answered" changes nothing. The first ringing names the agent unless one is known; an answer
names the agent who took the call, since that is whose screen the customer belongs on.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.clock import CLOCK_SKEW
from cs_register.contacts.models import Contact, Direction
from cs_register.context import Context
from cs_register.errors import ValidationFailed
from cs_register.integrations.models import IntegrationToken
from cs_register.languages import N_
from cs_register.permissions import Permission, has_permission
from cs_register.staff.models import StaffUser
from cs_register.staff.services import find_user_by_username
from recordings.intake import (
    ReportedCall,
    checked_external_call_id,
    open_call,
    parse_caller_number,
    parse_timestamp,
)
from recordings.models import Call

MAX_USERNAME = 150
# One message for a username nobody has and for an account that cannot take calls (an admin,
# a deactivated account): a screen pop must go to someone who may see the customer.
UNKNOWN_AGENT = "No active agent or supervisor has this username."


class CallEvent(enum.Enum):
    RINGING = "ringing"
    ANSWERED = "answered"


@dataclass(frozen=True)
class EventOutcome:
    call: Call
    # This event opened the call (and its contact).
    opened: bool
    # This (call, event) was new; False for a repeat, which changes nothing.
    recorded: bool


@dataclass(frozen=True)
class _Fields:
    event: CallEvent
    agent: StaffUser
    number: str | None
    occurred_at: datetime


def _agent(session: Session, raw: object, errors: dict[str, list[str]]) -> StaffUser | None:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_USERNAME:
        errors["agent"] = [N_("Must be the agent's username as a string.")]
        return None
    agent = find_user_by_username(session, raw)
    if agent is None or not has_permission(agent, Permission.LOG_CONTACTS):
        errors["agent"] = [UNKNOWN_AGENT]
        return None
    return agent


def _validated(session: Session, payload: Mapping[str, object], *, now: datetime) -> _Fields:
    errors: dict[str, list[str]] = {}
    raw_event = payload.get("event")
    event = None
    if isinstance(raw_event, str) and raw_event in {e.value for e in CallEvent}:
        event = CallEvent(raw_event)
    else:
        errors["event"] = ['Must be "ringing" or "answered".']
    agent = _agent(session, payload.get("agent"), errors)
    number = parse_caller_number(payload.get("caller_number"), field="caller_number", errors=errors)
    occurred_at = parse_timestamp(payload.get("occurred_at"), field="occurred_at", errors=errors)
    if occurred_at is not None and occurred_at > now + CLOCK_SKEW:
        errors["occurred_at"] = [N_("The event cannot happen in the future.")]
    if errors or event is None or agent is None or occurred_at is None:
        raise ValidationFailed(errors)
    return _Fields(event=event, agent=agent, number=number, occurred_at=occurred_at)


def _apply(session: Session, call: Call, fields: _Fields) -> bool:
    """Record the event on the call; False when this (call, event) was already recorded."""
    contact = session.get(Contact, call.contact_id)
    assert contact is not None  # noqa: S101 - calls.contact_id is a non-null foreign key
    if fields.event is CallEvent.RINGING:
        if call.ringing_at is not None:
            return False
        call.ringing_at = fields.occurred_at
        if call.agent_id is None:
            call.agent_id = fields.agent.id
    else:
        if call.answered_at is not None:
            return False
        call.answered_at = fields.occurred_at
        call.agent_id = fields.agent.id
    if contact.handled_by_id is None or fields.event is CallEvent.ANSWERED:
        contact.handled_by_id = call.agent_id
    session.flush()
    return True


def receive_call_event(
    ctx: Context,
    *,
    token: IntegrationToken,
    external_call_id: str,
    payload: Mapping[str, object],
) -> EventOutcome:
    """Record that the call `external_call_id` is ringing or was answered for an agent, opening
    the call and its contact if this is the first the register hears of it."""
    session = ctx.session
    external_call_id = checked_external_call_id(external_call_id)
    fields = _validated(session, payload, now=ctx.now)
    # Locked until the unit of work ends: two events for one call (ringing and answered a
    # moment apart) are applied one after the other, never both against the same old row.
    call = session.scalar(
        sa.select(Call).where(Call.external_call_id == external_call_id).with_for_update()
    )
    opened = call is None
    if call is None:
        call = open_call(
            ctx,
            token=token,
            external_call_id=external_call_id,
            # The PBX pops a screen for calls coming in; an agent's own calls out need none.
            reported=ReportedCall(
                Direction.INBOUND, fields.number, fields.agent, fields.occurred_at
            ),
        )
    recorded = _apply(session, call, fields)
    if recorded:
        audit.record(
            ctx,
            AuditAction.CALL_EVENT_RECEIVED,
            call,
            details={"event": fields.event.value, "agent": fields.agent.public_id},
        )
    return EventOutcome(call=call, opened=opened, recorded=recorded)
