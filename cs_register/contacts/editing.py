"""Correcting a logged contact: its subject and notes, whichever channel it came by.

A contact the PBX, the chatbot or an email created still needs the agent's words (what the
call was about, what was agreed), and a typo in a contact logged by hand needs fixing, so
agents and supervisors may edit both. Every change keeps the text before and after
(`ContactRevision`), and the audit row names the fields changed, never their text (audit
details hold no personal data).

The form carries how many changes the contact had when it was opened (`revision`): if someone
else saved a change meanwhile, saving refuses (409) instead of silently overwriting theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts.models import EDITABLE_FIELDS, Contact, ContactRevision
from cs_register.contacts.services import visible_contact
from cs_register.contacts.validation import MAX_NOTES, validate_notes, validate_subject
from cs_register.context import Context
from cs_register.errors import Conflict, ValidationFailed
from cs_register.identifiers import IdentifierError, whole_number
from cs_register.languages import N_
from cs_register.permissions import Permission, require
from cs_register.staff.models import StaffUser

# English, marked for the catalogs: the contact page shows them with `|translated`.
FIELD_LABELS = {"subject": N_("Subject"), "notes": N_("Notes")}
# Far beyond any real contact; bounds the form's number before it reaches the database.
_MAX_REVISIONS = 1_000_000


@dataclass(frozen=True)
class RevisionView:
    """One change as the contact page shows it."""

    id: int
    field: str
    old_value: str
    new_value: str
    changed_by: str
    changed_at: datetime

    @property
    def label(self) -> str:
        return FIELD_LABELS[self.field]


def _as_stored(text: str) -> str:
    """Text as a form sends it back, compared with what is stored: browsers send a textarea's
    line breaks as CRLF, and the ends are trimmed when saved."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def revision_count(session: Session, contact_id: int) -> int:
    """How many changes the contact has had: the edit form's `revision`."""
    count = session.scalar(
        sa.select(sa.func.count())
        .select_from(ContactRevision)
        .where(ContactRevision.contact_id == contact_id)
    )
    return int(count or 0)


def contact_history(session: Session, contact_id: int) -> list[RevisionView]:
    """The contact's changes, oldest first, with the names of who made them."""
    rows = session.execute(
        sa.select(ContactRevision, StaffUser.display_name)
        .outerjoin(StaffUser, StaffUser.id == ContactRevision.changed_by_id)
        .where(ContactRevision.contact_id == contact_id)
        .order_by(ContactRevision.changed_at, ContactRevision.id)
    )
    return [
        RevisionView(
            id=revision.id,
            field=revision.field,
            old_value=revision.old_value,
            new_value=revision.new_value,
            changed_by=name or "unknown",
            changed_at=revision.changed_at,
        )
        for revision, name in rows
    ]


def edit_contact(
    ctx: Context,
    *,
    contact_public_id: str,
    subject: str,
    notes: str,
    revision: str,
) -> list[str]:
    """Save the agent's subject and notes; returns the fields that changed (none: nothing is
    written, not even an audit row, so a double-clicked button leaves one change)."""
    session = ctx.session
    require(ctx.actor, Permission.LOG_CONTACTS)
    contact = visible_contact(ctx, contact_public_id)
    errors: dict[str, list[str]] = {}
    new_values: dict[str, str] = {}
    # Only what the agent changed is checked: a chatbot transcript or an email body came in
    # longer than the console's notes limit (and may hold characters the console refuses),
    # and correcting the subject must not fail on the notes as they arrived. A changed note
    # may stay as long as it already was.
    notes_limit = max(MAX_NOTES, len(contact.notes))
    for field, validate, raw in (
        ("subject", validate_subject, subject),
        ("notes", lambda text: validate_notes(text, max_length=notes_limit), notes),
    ):
        if _as_stored(raw) == _as_stored(getattr(contact, field)):
            new_values[field] = getattr(contact, field)
            continue
        try:
            new_values[field] = validate(raw)
        except IdentifierError as problem:
            errors[field] = [problem.message]
    seen = whole_number(revision, minimum=0, maximum=_MAX_REVISIONS)
    if seen is None:
        errors["revision"] = [N_("Open the contact again and redo the change.")]
    if errors or seen is None:
        raise ValidationFailed(errors)
    # Locked until the unit of work ends, so two saves cannot both pass the check below.
    session.execute(sa.select(Contact.id).where(Contact.id == contact.id).with_for_update())
    if revision_count(session, contact.id) != seen:
        raise Conflict("Someone else changed this contact while you were editing it.")
    changed = [field for field in EDITABLE_FIELDS if getattr(contact, field) != new_values[field]]
    for field in changed:
        session.add(
            ContactRevision(
                contact_id=contact.id,
                field=field,
                old_value=getattr(contact, field),
                new_value=new_values[field],
                changed_by_id=ctx.actor.staff_id,
                changed_at=ctx.now,
            )
        )
        setattr(contact, field, new_values[field])
    if changed:
        session.flush()
        audit.record(ctx, AuditAction.CONTACT_EDITED, contact, details={"fields": changed})
    return changed
