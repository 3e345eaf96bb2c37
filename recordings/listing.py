"""What the console's recording pages read: one recording with the names around it, the
supervisors' list, and the statuses shown beside contacts. Whatever they show about retention
comes from `recordings.services.retention_status`, so a page can never disagree with the purge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts.models import Contact
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.errors import NotFound, PermissionDenied, ValidationFailed
from cs_register.integrations.models import IntegrationToken
from cs_register.languages import N_
from cs_register.permissions import Permission, Principal, has_permission, require
from cs_register.staff.models import StaffUser
from recordings import access
from recordings.models import Call, HoldReason, Recording, RecordingHold, RecordingState
from recordings.retention import RetentionPolicy
from recordings.services import (
    RetentionStatus,
    get_recording,
    recordings_for_contacts,
    retention_status,
)

RECORDING_LIST_LABELS = ("kept", "held")
# "Due within N days" accepts up to the 3-month period (a held one can be due later).
MAX_DUE_WITHIN_DAYS = 400


@dataclass(frozen=True)
class RecordingContext:
    """Who and what a recording is about, for supervisors' lists: the customer (None when
    the call was never identified), the contact's subject and the agent who took the call."""

    customer: Customer | None
    subject: str
    agent: str


def recording_contexts(
    session: Session, recordings: Sequence[Recording]
) -> dict[int, RecordingContext]:
    """Recording id -> its context, resolved in three queries whatever the page's size."""
    contact_ids = {r.contact_id for r in recordings if r.contact_id is not None}
    contacts = {
        contact.id: contact
        for contact in session.scalars(sa.select(Contact).where(Contact.id.in_(contact_ids)))
    }
    customer_ids = {c.customer_id for c in contacts.values() if c.customer_id is not None}
    customers = {
        customer.id: customer
        for customer in session.scalars(sa.select(Customer).where(Customer.id.in_(customer_ids)))
    }
    # The agent who took the call as the PBX reported it, else whoever logged the contact.
    call_agents: dict[int, int | None] = {
        contact_id: agent_id
        for contact_id, agent_id in session.execute(
            sa.select(Call.contact_id, Call.agent_id).where(
                Call.contact_id.in_(contact_ids), Call.agent_id.is_not(None)
            )
        )
    }
    agent_ids = {
        contact_id: call_agents.get(contact_id, contact.handled_by_id)
        for contact_id, contact in contacts.items()
    }
    wanted = {staff_id for staff_id in agent_ids.values() if staff_id is not None}
    names: dict[int, str] = {
        staff_id: name
        for staff_id, name in session.execute(
            sa.select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(wanted))
        )
    }
    contexts = {}
    for recording in recordings:
        contact = contacts.get(recording.contact_id or -1)
        if contact is None:
            contexts[recording.id] = RecordingContext(customer=None, subject="", agent="—")
            continue
        agent_id = agent_ids.get(contact.id)
        contexts[recording.id] = RecordingContext(
            customer=customers.get(contact.customer_id or -1),
            subject=contact.subject,
            agent=names.get(agent_id, "unknown") if agent_id is not None else "—",
        )
    return contexts


@dataclass(frozen=True)
class RecordingOverview:
    """What the recording page shows: the recording, its retention, and the names around it."""

    recording: Recording
    status: RetentionStatus
    contact: Contact
    customer: Customer | None
    uploaded_by: str
    staff_names: dict[int, str]

    def name_of(self, staff_id: int | None) -> str:
        return self.staff_names.get(staff_id, "unknown") if staff_id is not None else "—"


def _may_see_recording_page(actor: Principal) -> bool:
    return has_permission(actor, Permission.PLAY_RECORDINGS) or has_permission(
        actor, Permission.MANAGE_HOLDS
    )


def view_recording(
    ctx: Context,
    *,
    public_id: str,
    policy: RetentionPolicy,
) -> RecordingOverview:
    """The recording page's content, also for expired and purged recordings (their facts stay
    visible); the viewing is audited as RECORDING_VIEWED."""
    session, now, actor = ctx.session, ctx.now, ctx.actor
    if not _may_see_recording_page(actor):
        raise PermissionDenied("Your role does not allow this action.")
    recording = get_recording(session, public_id)
    access.check_may_open(session, actor, recording)
    contact = session.get(Contact, recording.contact_id)
    if contact is None:
        raise NotFound("No such contact.")
    customer = session.get(Customer, contact.customer_id) if contact.customer_id else None
    staff_ids = {recording.uploaded_by_id}
    for hold in recording.holds:
        staff_ids |= {hold.placed_by_id, hold.released_by_id}
    names = {
        user.id: user.display_name
        for user in session.scalars(
            sa.select(StaffUser).where(StaffUser.id.in_([i for i in staff_ids if i is not None]))
        )
    }
    if recording.uploaded_by_id is not None:
        uploaded_by = names.get(recording.uploaded_by_id, "unknown")
    elif recording.integration_token_id is not None:
        token = session.get(IntegrationToken, recording.integration_token_id)
        uploaded_by = f"Integration {token.name}" if token is not None else "Integration"
    else:
        uploaded_by = "unknown"
    audit.record(ctx, AuditAction.RECORDING_VIEWED, recording)
    return RecordingOverview(
        recording=recording,
        status=retention_status(recording, now=now, policy=policy),
        contact=contact,
        customer=customer,
        uploaded_by=uploaded_by,
        staff_names=names,
    )


@dataclass(frozen=True)
class RecordingListPage:
    rows: list[tuple[Recording, RetentionStatus]]
    # Public id of the last row shown when more may follow; the next page starts after it.
    next_after: str | None


def list_recordings(
    ctx: Context,
    *,
    policy: RetentionPolicy,
    label: str | None = None,
    after: str | None = None,
    limit: int = 50,
    due_within_days: int | None = None,
    reason: HoldReason | None = None,
) -> RecordingListPage:
    """Recordings still within retention, newest first, optionally only "kept" or "held",
    only those due for deletion within `due_within_days`, or only those held for `reason`.

    Keyset-paginated on (recorded_at, id); `after` is the public id of the previous page's last
    row, so URLs carry no counters. Expired recordings are left out even before the purge has
    run: they are gone as far as anyone is concerned.
    """
    session, now = ctx.session, ctx.now
    require(ctx.actor, Permission.MANAGE_HOLDS)
    if label is not None and label not in RECORDING_LIST_LABELS:
        raise ValidationFailed({"state": N_("Choose kept or held.")})
    query = (
        sa.select(Recording)
        .where(
            Recording.state == RecordingState.ACTIVE,
            Recording.due_at > now,
            access.listed_for(ctx.actor),
        )
        .order_by(Recording.recorded_at.desc(), Recording.id.desc())
        .options(selectinload(Recording.holds))
    )
    if due_within_days is not None:
        query = query.where(Recording.due_at <= now + timedelta(days=due_within_days))
    if label == "held" or reason is not None:
        # Narrows the scan; the exact label is still decided by retention_status below.
        in_force = [
            RecordingHold.recording_id == Recording.id,
            RecordingHold.released_at.is_(None),
            RecordingHold.ends_at > now,
        ]
        if reason is not None:
            in_force.append(RecordingHold.reason == reason)
        query = query.where(sa.exists().where(*in_force))
    cursor = (
        session.scalar(sa.select(Recording).where(Recording.public_id == after)) if after else None
    )
    matches: list[tuple[Recording, RetentionStatus]] = []
    # Rows whose exact label does not match are skipped, so read batches until one more row
    # than a page has been found (that extra row only proves a next page exists).
    while len(matches) <= limit:
        batch_query = query.limit(limit + 1)
        if cursor is not None:
            batch_query = batch_query.where(
                sa.or_(
                    Recording.recorded_at < cursor.recorded_at,
                    sa.and_(Recording.recorded_at == cursor.recorded_at, Recording.id < cursor.id),
                )
            )
        batch = session.scalars(batch_query).all()
        for recording in batch:
            status = retention_status(recording, now=now, policy=policy)
            if status.servable and (label is None or status.label == label):
                matches.append((recording, status))
        if len(batch) <= limit:
            break
        cursor = batch[-1]
    has_more = len(matches) > limit
    rows = matches[:limit]
    return RecordingListPage(
        rows=rows, next_after=rows[-1][0].public_id if has_more and rows else None
    )


def recording_statuses(
    session: Session, contact_ids: Sequence[int], *, now: datetime, policy: RetentionPolicy
) -> dict[int, tuple[Recording, RetentionStatus]]:
    """Contact id -> its recording and retention status, for links on contact and customer
    pages (no audit: those pages audit their own viewing)."""
    return {
        contact_id: (recording, retention_status(recording, now=now, policy=policy))
        for contact_id, recording in recordings_for_contacts(session, contact_ids).items()
    }
