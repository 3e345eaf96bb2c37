"""What the contacts package holds about a person, for the personal-data registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cs_register.contacts.services import customer_timeline
from cs_register.context import Context
from cs_register.personal_data import DataSubject, Finding, SourceDescription, TableClaim

SOURCE = "contacts"


@dataclass(frozen=True)
class ContactRecords:
    """Every contact with the customer, and which identifiers the agent checked in it."""

    def describe(self) -> SourceDescription:
        return SourceDescription(
            name=SOURCE,
            title="Contacts",
            tables=(
                TableClaim(
                    table="contacts",
                    columns=("customer_id", "subject", "notes", "occurred_at"),
                    purpose="The log of customer-service contacts by email, phone and chatbot.",
                ),
                TableClaim(
                    table="identity_verifications",
                    columns=(
                        "contact_id",
                        "checked_name",
                        "checked_email",
                        "checked_phone",
                        "checked_identity_code",
                        "checked_address",
                        "outcome",
                    ),
                    purpose="Which identifiers the agent verified during a contact.",
                ),
            ),
        )

    def find(
        self, ctx: Context, subject: DataSubject, earlier: Sequence[Finding]
    ) -> Sequence[Finding]:
        findings: list[Finding] = []
        for contact in reversed(customer_timeline(ctx.session, subject.customer_id)):
            findings.append(
                Finding(
                    source=SOURCE,
                    category="Contact",
                    table="contacts",
                    reference=contact.public_id,
                    occurred_at=contact.occurred_at,
                    fields=(
                        ("Channel", contact.channel.value),
                        ("Direction", contact.direction.value),
                        ("Subject", contact.subject),
                        ("Notes", contact.notes),
                    ),
                )
            )
            findings.extend(
                Finding(
                    source=SOURCE,
                    category="Identity verification",
                    table="identity_verifications",
                    reference=f"identity_verifications:{verification.id}",
                    occurred_at=verification.verified_at,
                    fields=(
                        ("Contact", contact.public_id),
                        ("Checked", ", ".join(verification.checked) or "nothing"),
                        ("Outcome", verification.outcome.value),
                    ),
                )
                for verification in contact.verifications
            )
        return findings
