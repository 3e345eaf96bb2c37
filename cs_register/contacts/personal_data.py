"""What the contacts package holds about a person, for the personal-data registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cs_register.contacts.services import customer_timeline
from cs_register.context import Context
from cs_register.personal_data import DataSubject, Finding, FindingKind, SourceDescription, claim

SOURCE = "contacts"
CONTACT = FindingKind(SOURCE, "Contact", "contacts")
VERIFICATION = FindingKind(SOURCE, "Identity verification", "identity_verifications")
_CHECKS = ("checked_name", "checked_email", "checked_phone", "checked_identity_code")
DESCRIPTION = SourceDescription(
    name=SOURCE,
    title="Contacts",
    retention="No retention rule yet: kept until erased (180 days is the promise).",
    tables=(
        claim("contacts", "The contact log (email, phone, chatbot).", "subject", "notes"),
        claim(
            "identity_verifications",
            "Which identifiers the agent verified during a contact.",
            *_CHECKS,
            "checked_address",
            "outcome",
        ),
    ),
)


@dataclass(frozen=True)
class ContactRecords:
    """Every contact with the customer, and which identifiers the agent checked in it."""

    def describe(self) -> SourceDescription:
        return DESCRIPTION

    def find(
        self, ctx: Context, subject: DataSubject, earlier: Sequence[Finding]
    ) -> Sequence[Finding]:
        findings: list[Finding] = []
        for contact in reversed(customer_timeline(ctx.session, subject.customer_id)):
            channel = (contact.channel.value, contact.direction.value)
            findings.append(
                CONTACT.of(
                    contact.public_id,
                    contact.occurred_at,
                    ("Channel", " ".join(channel)),
                    ("Subject", contact.subject),
                    ("Notes", contact.notes),
                )
            )
            for check in contact.verifications:
                checked = ", ".join(check.checked) or "nothing"
                row = f"identity_verifications:{check.id}"
                outcome = ("Outcome", check.outcome.value)
                findings.append(
                    VERIFICATION.of(row, check.verified_at, ("Checked", checked), outcome)
                )
        return findings
