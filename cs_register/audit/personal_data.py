"""What the audit trail holds about a person, for the personal-data registry.

Audit rows name their subject by public id only, so the trail is found through the other
sources' findings: every event about the customer, or about one of their contacts, calls,
recordings or emails. Registered last, so that it sees all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from cs_register.audit.models import AuditEvent
from cs_register.context import Context
from cs_register.personal_data import (
    DataSubject,
    Finding,
    SourceDescription,
    TableClaim,
)

SOURCE = "audit"
# Enough to bound one IN list on every database; larger sets are asked in slices.
_SLICE = 500


@dataclass(frozen=True)
class AuditRecords:
    def describe(self) -> SourceDescription:
        return SourceDescription(
            name=SOURCE,
            title="Audit trail",
            tables=(
                TableClaim(
                    table="audit_events",
                    columns=("subject_id", "actor_id", "actor_label", "details"),
                    purpose="Who saw or changed what, when: kept to prove lawful processing.",
                ),
                # The staff member who acted is named too (actor_id, actor_label).
            ),
        )

    def find(
        self, ctx: Context, subject: DataSubject, earlier: Sequence[Finding]
    ) -> Sequence[Finding]:
        references = sorted(
            {subject.customer_public_id}
            | {finding.reference for finding in earlier if ":" not in finding.reference}
        )
        events: list[AuditEvent] = []
        for start in range(0, len(references), _SLICE):
            events.extend(
                ctx.session.scalars(
                    sa.select(AuditEvent).where(
                        AuditEvent.subject_id.in_(references[start : start + _SLICE])
                    )
                )
            )
        events.sort(key=lambda event: event.id)
        return [
            Finding(
                source=SOURCE,
                category="Audit event",
                table="audit_events",
                reference=f"audit_events:{event.id}",
                occurred_at=event.occurred_at,
                fields=(
                    ("Action", event.action.value),
                    ("By", event.actor_label),
                    ("About", f"{event.subject_type or '-'} {event.subject_id or '-'}"),
                ),
            )
            for event in events
        ]
