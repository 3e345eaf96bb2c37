"""What the privacy package holds about a person, for the personal-data registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cs_register.context import Context
from cs_register.personal_data import DataSubject, Finding, FindingKind, SourceDescription, claim
from cs_register.privacy.cases import cases_of_customer

SOURCE = "privacy"
REQUEST = FindingKind(SOURCE, "Privacy request", "privacy_requests")
DESCRIPTION = SourceDescription(
    name=SOURCE,
    title="Privacy requests",
    retention="No retention rule yet: kept until erased; an open case keeps its own record.",
    tables=(
        claim(
            "privacy_requests",
            "Answering the person's data-protection requests within the legal deadline.",
            "description",
            "reply_to",
            "extension_justification",
            "answer",
            "refusal_reason",
        ),
        claim(
            "privacy_exports",
            "The person's own download (access, portability), kept a few days.",
            "storage_key",
            "sha256",
        ),
    ),
)


@dataclass(frozen=True)
class PrivacyRequestRecords:
    """The person's own data-protection requests: what they asked and what they were told."""

    def describe(self) -> SourceDescription:
        return DESCRIPTION

    def find(
        self, ctx: Context, subject: DataSubject, earlier: Sequence[Finding]
    ) -> Sequence[Finding]:
        return [
            REQUEST.of(
                case.public_id,
                case.registered_at,
                ("Type", case.kind.label),
                ("Status", case.status.label),
                ("Received", case.received_on.strftime("%d.%m.%Y")),
                ("Due", case.due_on.strftime("%d.%m.%Y")),
                ("What was asked", case.description),
                ("Answer", case.answer or ""),
            )
            for case in reversed(cases_of_customer(ctx.session, subject.customer_id))
        ]
