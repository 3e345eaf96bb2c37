"""Holds: a supervisor keeps one recording beyond the normal period, for a quality project or
a complaint, never past its cap; releasing ends a hold early.

Every function takes a `Context`, flushes and never commits. Retention arithmetic
comes from `recordings.retention` only.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.audit.services import AuditDetailsContainPersonalData
from cs_register.audit.services import _check_details as check_audit_details
from cs_register.contacts.models import Contact
from cs_register.context import Context
from cs_register.customers.objection import objects_to_quality_work
from cs_register.errors import Conflict, NotFound, ValidationFailed
from cs_register.free_text import contains_contact_details, contains_identity_code
from cs_register.identifiers import IdentifierError, normalise_text
from cs_register.languages import N_
from cs_register.lookup import by_public_id
from cs_register.permissions import (
    Permission,
    require,
)
from recordings import access, retention
from recordings.models import HoldReason, Recording, RecordingHold, RecordingState
from recordings.retention import CALENDAR, RetentionPolicy
from recordings.services import compute_due_at

# A PBX clock a little ahead of ours must not make an honest upload fail.
MAX_REFERENCE = 100


MAX_JUSTIFICATION = 2000


def _lock_recording(session: Session, public_id: str) -> Recording:
    """Load the recording with a row lock, so a hold and a purge can never interleave."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite ignores FOR UPDATE; a write first takes its database-wide write lock, so the
        # read below cannot be overtaken by a purge (see recordings.purge).
        session.execute(
            sa.text("UPDATE recordings SET state = state WHERE public_id = :public_id"),
            {"public_id": public_id},
        )
    recording = session.scalar(
        sa.select(Recording).where(Recording.public_id == public_id).with_for_update()
    )
    if recording is None:
        raise NotFound("No such recording.")
    session.refresh(recording, attribute_names=["holds"])
    return recording


def hold_end_from_date(
    ends_on: date | None, *, recorded_at: datetime, policy: RetentionPolicy
) -> datetime:
    """A hold kept 'through' a Helsinki calendar day ends at the next midnight; on the cap's
    own day it ends exactly at the cap. No date means the cap."""
    cap = retention.hold_cap(recorded_at, policy)
    if ends_on is None:
        return cap
    cap_day = cap.astimezone(CALENDAR).date()
    if ends_on == cap_day:
        return cap
    next_midnight = datetime.combine(ends_on + timedelta(days=1), time(0), tzinfo=CALENDAR)
    return next_midnight.astimezone(cap.tzinfo)


def hold_end_text(ends_at: datetime) -> str:
    """A hold's end as the supervisor set it: a hold kept through a day ends at the next
    Helsinki midnight, which is shown as that day, inclusive (not "01.07. 00:00"); an end at
    another instant (the cap) is shown to the minute. In the reader's language."""
    local = ends_at.astimezone(CALENDAR)
    if local.time() == time(0):
        day = local.date() - timedelta(days=1)
        return gettext("until %(date)s (inclusive)", date=day.strftime("%d.%m.%Y"))
    return gettext("until %(time)s", time=local.strftime("%d.%m.%Y %H:%M"))


def _customer_id_of(session: Session, recording: Recording) -> int | None:
    return session.scalar(sa.select(Contact.customer_id).where(Contact.id == recording.contact_id))


def _looks_personal(reference: str) -> bool:
    """Whether a typed hold reference carries personal data. It goes into the audit trail:
    screened as free text (identity codes, and phone numbers as people type them, with the
    phonenumbers matcher) and by the trail's own check, before anything is written, since a
    refusal later would leave a hold without its row."""
    if contains_identity_code(reference) or contains_contact_details(reference):
        return True
    try:
        check_audit_details({"reference": reference})
    except AuditDetailsContainPersonalData:
        return True
    return False


def place_hold(
    ctx: Context,
    *,
    recording_public_id: str,
    reason: str,
    reference: str,
    justification: str,
    ends_on: date | None,
    policy: RetentionPolicy,
) -> RecordingHold:
    """Keep one recording beyond the normal period, at most until its 12-month cap."""
    session, now = ctx.session, ctx.now
    require(ctx.actor, Permission.MANAGE_HOLDS)
    errors: dict[str, list[str]] = {}
    try:
        hold_reason = HoldReason(reason)
    except ValueError:
        errors["reason"] = [N_("Choose quality development or complaint.")]
    clean_reference = _text(errors, "reference", reference, N_("Reference"), MAX_REFERENCE)
    clean_justification = _text(
        errors, "justification", justification, "Justification", MAX_JUSTIFICATION
    )
    if clean_reference and "reference" not in errors and _looks_personal(clean_reference):
        errors["reference"] = [
            "The reference looks like personal data (a phone number, email address or"
            " identity code); use a project or case number instead."
        ]
    if errors:
        raise ValidationFailed(errors)
    recording = _lock_recording(session, recording_public_id)
    access.check_may_open(session, ctx.actor, recording)
    if recording.state is not RecordingState.ACTIVE:
        raise Conflict("The recording has been purged or is being purged; it cannot be held.")
    if hold_reason is HoldReason.QUALITY_DEVELOPMENT and objects_to_quality_work(
        session, _customer_id_of(session, recording)
    ):
        raise ValidationFailed(
            {
                "reason": (
                    "The customer has objected to the use of their data for quality work;"
                    " only a complaint hold can be placed on this recording."
                )
            }
        )
    if now >= recording.schedule(policy).due_at:
        raise Conflict("The recording's retention period has ended; it can no longer be held.")
    cap = retention.hold_cap(recording.recorded_at, policy)
    ends_at = hold_end_from_date(ends_on, recorded_at=recording.recorded_at, policy=policy)
    if ends_at > cap:
        raise ValidationFailed(
            {
                "ends_on": (
                    "A hold cannot last beyond 12 months from the recording: the latest end is"
                    f" {cap.astimezone(CALENDAR):%d.%m.%Y %H:%M} (Helsinki time)."
                )
            }
        )
    if ends_at <= now:
        raise ValidationFailed({"ends_on": N_("The end date must be in the future.")})
    hold = RecordingHold(
        recording=recording,
        reason=hold_reason,
        reference=clean_reference,
        justification=clean_justification,
        placed_by_id=ctx.actor.staff_id,
        placed_at=now,
        ends_at=ends_at,
    )
    session.add(hold)
    session.flush()
    recording.due_at = compute_due_at(recording, policy)
    audit.record(
        ctx,
        AuditAction.HOLD_PLACED,
        recording,
        details={
            "hold": hold.public_id,
            "reason": hold_reason.value,
            "reference": clean_reference,
            "ends_at": ends_at.isoformat(),
        },
    )
    return hold


def release_hold(
    ctx: Context,
    *,
    hold_public_id: str,
    note: str,
    policy: RetentionPolicy,
) -> RecordingHold:
    """End a hold early; the recording falls back to the normal rule (due at once if past it)."""
    session, now = ctx.session, ctx.now
    require(ctx.actor, Permission.MANAGE_HOLDS)
    errors: dict[str, list[str]] = {}
    clean_note = _text(errors, "note", note, N_("Release note"), MAX_JUSTIFICATION)
    if errors:
        raise ValidationFailed(errors)
    recording_id = session.scalar(
        sa.select(RecordingHold.recording_id).where(RecordingHold.public_id == hold_public_id)
    )
    if recording_id is None:
        raise NotFound("No such hold.")
    recording = _lock_recording(
        session,
        session.scalar(sa.select(Recording.public_id).where(Recording.id == recording_id)) or "",
    )
    hold = next(h for h in recording.holds if h.public_id == hold_public_id)
    if not hold.is_active(now):
        raise Conflict("This hold has already ended.")
    hold.released_at = now
    hold.released_by_id = ctx.actor.staff_id
    hold.release_note = clean_note
    recording.due_at = compute_due_at(recording, policy)
    session.flush()
    audit.record(
        ctx,
        AuditAction.HOLD_RELEASED,
        recording,
        details={"hold": hold.public_id, "reason": hold.reason.value, "reference": hold.reference},
    )
    return hold


def _text(errors: dict[str, list[str]], field: str, raw: str, label: str, limit: int) -> str:
    try:
        return normalise_text(raw or "", label=label, max_length=limit)
    except IdentifierError as exc:
        errors[field] = [exc.message]
        return ""


def get_hold(session: Session, public_id: str) -> RecordingHold:
    return by_public_id(session, RecordingHold, public_id, missing="No such hold.")
