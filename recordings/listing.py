"""What the console's recording pages read: one recording with the names around it, the
supervisors' list, and the statuses shown beside contacts. Whatever they show about retention
comes from `recordings.services.retention_status`, so a page can never disagree with the purge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts.models import Contact
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.errors import NotFound, PermissionDenied, ValidationFailed
from cs_register.integrations.models import IntegrationToken
from cs_register.permissions import Permission, Principal, has_permission, require
from cs_register.staff.models import StaffUser
from recordings import access
from recordings.models import Recording, RecordingHold, RecordingState
from recordings.retention import RetentionPolicy
from recordings.services import (
    RetentionStatus,
    get_recording,
    recordings_for_contacts,
    retention_status,
)

RECORDING_LIST_LABELS = ("kept", "held")


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
) -> RecordingListPage:
    """Recordings still within retention, newest first, optionally only "kept" or "held".

    Keyset-paginated on (recorded_at, id); `after` is the public id of the previous page's last
    row, so URLs carry no counters. Expired recordings are left out even before the purge has
    run: they are gone as far as anyone is concerned.
    """
    session, now = ctx.session, ctx.now
    require(ctx.actor, Permission.MANAGE_HOLDS)
    if label is not None and label not in RECORDING_LIST_LABELS:
        raise ValidationFailed({"state": "Choose kept or held."})
    query = (
        sa.select(Recording)
        .where(Recording.state == RecordingState.ACTIVE, Recording.due_at > now)
        .order_by(Recording.recorded_at.desc(), Recording.id.desc())
        .options(selectinload(Recording.holds))
    )
    if label == "held":
        # Narrows the scan; the exact label is still decided by retention_status below.
        query = query.where(
            sa.exists().where(
                RecordingHold.recording_id == Recording.id,
                RecordingHold.released_at.is_(None),
                RecordingHold.ends_at > now,
            )
        )
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
