"""What the audit trail holds about a person, for the personal-data registry.

Audit rows name their subject by public id only, so the trail is found through the other
sources' findings: every event about the customer, or about one of their contacts, calls,
recordings or emails. Registered last, so that it sees all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from cs_register import personal_data as registry
from cs_register.audit.models import AuditEvent
from cs_register.context import Context
from cs_register.languages import N_

# Enough to bound one IN list on every database; larger sets are asked in slices.
_SLICE = 500


DESCRIPTION = registry.SourceDescription(
    name="audit",
    title=N_("Audit trail"),
    retention=N_(
        "AUDIT_RETENTION_YEARS after each event, removed in batches, each under a retention"
        " receipt (audit.retention)."
    ),
    tables=(
        # The staff member who acted is named too (actor_id, actor_label).
        registry.claim(
            "audit_events", N_("Who saw or changed what, when."), "subject_id", "actor_label"
        ),
    ),
)
EVENT = DESCRIPTION.finding_kind("audit_events", N_("Audit event"))


class AuditRecords(registry.DescribedSource, description=DESCRIPTION):
    def erase(
        self, ctx: Context, scope: registry.ErasureScope, tally: registry.ErasureTally
    ) -> None:
        """The trail stays: it is the record of who saw the person's data, and its events
        carry ids only (`audit.record` refuses personal data in details), so once the rows
        they name are gone nothing in them leads back to the person."""
        if scope.subject is None:
            return
        about = AuditEvent.subject_id == scope.subject.customer_public_id
        events = ctx.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(about)) or 0
        if events:
            tally.keep(
                EVENT.category,
                f"{events} events about the customer record",
                "The record of who viewed or changed the data; ids only, no personal data.",
            )

    def find(
        self, ctx: Context, subject: registry.DataSubject, earlier: Sequence[registry.Finding]
    ) -> Sequence[registry.Finding]:
        references = sorted(
            {subject.customer_public_id}
            | {finding.reference for finding in earlier if ":" not in finding.reference}
        )
        events: list[AuditEvent] = []
        for start in range(0, len(references), _SLICE):
            about = AuditEvent.subject_id.in_(references[start : start + _SLICE])
            events.extend(ctx.session.scalars(sa.select(AuditEvent).where(about)))
        events.sort(key=lambda event: event.id)
        findings: list[registry.Finding] = []
        for event in events:
            what = (N_("Action"), event.action.value)
            about_what = (N_("About"), f"{event.subject_type or '-'} {event.subject_id or '-'}")
            row = f"audit_events:{event.id}"
            findings.append(
                EVENT.of(row, event.occurred_at, what, (N_("By"), event.actor_label), about_what)
            )
        return findings
