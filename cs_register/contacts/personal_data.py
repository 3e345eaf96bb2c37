"""What the contacts package holds about a person, for the personal-data registry."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import personal_data as registry
from cs_register.contacts.editing import contact_history
from cs_register.contacts.models import (
    Contact,
    ContactRelink,
    ContactRevision,
    IdentityVerification,
)
from cs_register.contacts.services import customer_timeline
from cs_register.context import Context
from cs_register.db import affected_rows
from cs_register.languages import N_

# What a move's reason says after a person it concerned is erased.
ERASED_REASON = "(erased with the person's data)"
_CHECKS = ("checked_name", "checked_email", "checked_phone", "checked_identity_code")
DESCRIPTION = registry.SourceDescription(
    name="contacts",
    title=N_("Contacts"),
    retention=N_(
        "CONTACT_RETENTION_DAYS after they occurred, unless a stored recording or an"
        " open request needs them (contacts.retention)."
    ),
    tables=(
        registry.claim(
            "contacts", N_("The contact log (email, phone, chatbot)."), "subject", "notes"
        ),
        registry.claim(
            "identity_verifications",
            N_("Which identifiers the agent verified during a contact."),
            *_CHECKS,
            "checked_address",
            "outcome",
        ),
        registry.claim(
            "contact_relinks",
            N_("Corrections of whose contact it is (rectification), with the reason."),
            "from_customer_id",
            "to_customer_id",
            "reason",
        ),
        registry.claim(
            "contact_revisions",
            N_("Corrections of a contact's subject or notes: the text before and after."),
            "old_value",
            "new_value",
        ),
    ),
)
CONTACT = DESCRIPTION.finding_kind("contacts", N_("Contact"))
VERIFICATION = DESCRIPTION.finding_kind("identity_verifications", N_("Identity verification"))
RELINK = DESCRIPTION.finding_kind("contact_relinks", N_("Contact moved to the right customer"))
REVISION = DESCRIPTION.finding_kind("contact_revisions", N_("Correction of a contact"))


class ContactRecords(registry.DescribedSource, description=DESCRIPTION):
    """Every contact with the customer, and which identifiers the agent checked in it."""

    def contacts_about(self, session: Session, subject: registry.DataSubject) -> set[int]:
        theirs = sa.or_(
            Contact.customer_id == subject.customer_id,
            Contact.held_for_customer_id == subject.customer_id,
        )
        return set(session.scalars(sa.select(Contact.id).where(theirs)))

    def erase(
        self, ctx: Context, scope: registry.ErasureScope, tally: registry.ErasureTally
    ) -> None:
        session, in_scope = ctx.session, scope.contact_ids
        moves = affected_rows(
            session, sa.delete(ContactRelink).where(ContactRelink.contact_id.in_(in_scope))
        )
        tally.count(RELINK.category, moves)
        if scope.subject is not None:
            # A move of someone else's contact away from (or to) them: its reason may name
            # them.
            customer_id = scope.subject.customer_id
            for column in (ContactRelink.from_customer_id, ContactRelink.to_customer_id):
                session.execute(
                    sa.update(ContactRelink)
                    .where(column == customer_id)
                    .values({column.key: None, "reason": ERASED_REASON})
                )
        revisions = affected_rows(
            session, sa.delete(ContactRevision).where(ContactRevision.contact_id.in_(in_scope))
        )
        tally.count(REVISION.category, revisions)
        verifications = affected_rows(
            session,
            sa.delete(IdentityVerification).where(IdentityVerification.contact_id.in_(in_scope)),
        )
        tally.count(VERIFICATION.category, verifications)
        bare = in_scope & tally.bare_contact_ids
        # What is kept hangs on these: they stay as rows with a channel and a time, nothing
        # about the person.
        session.execute(
            sa.update(Contact)
            .where(Contact.id.in_(bare))
            .values(customer_id=None, subject="", notes="", linked_at=None, linked_by_id=None)
        )
        contacts = affected_rows(session, sa.delete(Contact).where(Contact.id.in_(in_scope - bare)))
        tally.count(CONTACT.category, contacts)
        for contact_id in sorted(bare):
            tally.keep(
                CONTACT.category,
                f"contacts:{contact_id}",
                "A bare row (channel and time, nothing about the person) that a kept"
                " recording belongs to.",
            )

    def find(
        self, ctx: Context, subject: registry.DataSubject, earlier: Sequence[registry.Finding]
    ) -> Sequence[registry.Finding]:
        findings: list[registry.Finding] = []
        for contact in reversed(customer_timeline(ctx.session, subject.customer_id)):
            channel = (contact.channel.value, contact.direction.value)
            findings.append(
                CONTACT.of(
                    contact.public_id,
                    contact.occurred_at,
                    (N_("Channel"), " ".join(channel)),
                    (N_("Subject"), contact.subject),
                    (N_("Notes"), contact.notes),
                )
            )
            for check in contact.verifications:
                checked = ", ".join(check.checked) or "nothing"
                row = f"identity_verifications:{check.id}"
                outcome = (N_("Outcome"), check.outcome.value)
                findings.append(
                    VERIFICATION.of(row, check.verified_at, (N_("Checked"), checked), outcome)
                )
            for change in contact_history(ctx.session, contact.id):
                findings.append(
                    REVISION.of(
                        f"contact_revisions:{change.id}",
                        change.changed_at,
                        (N_("Field"), change.label),
                        (N_("Before"), change.old_value),
                        (N_("After"), change.new_value),
                    )
                )
        about_them = sa.or_(
            ContactRelink.from_customer_id == subject.customer_id,
            ContactRelink.to_customer_id == subject.customer_id,
        )
        for move in ctx.session.scalars(
            sa.select(ContactRelink).where(about_them).order_by(ContactRelink.changed_at)
        ):
            direction = "to them" if move.to_customer_id == subject.customer_id else "away"
            what = ((N_("Moved"), direction), (N_("Reason"), move.reason))
            findings.append(RELINK.of(move.public_id, move.changed_at, *what))
        return findings
