"""Everything held about one person, gathered from every registered personal-data source."""

from __future__ import annotations

from dataclasses import dataclass

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.customers.personal_data import data_subject
from cs_register.customers.services import get_customer
from cs_register.permissions import Permission, require
from cs_register.personal_data import Finding, PersonalDataRegistry


@dataclass(frozen=True)
class HeldData:
    customer: Customer
    findings: list[Finding]

    def by_category(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.category, []).append(finding)
        return grouped


def everything_held(
    ctx: Context, registry: PersonalDataRegistry, *, customer_public_id: str
) -> HeldData:
    """What every source holds about the customer, for the DPO; audited as a review.

    The audit row records how many findings each source returned, never what they say.
    """
    require(ctx.actor, Permission.REVIEW_PERSONAL_DATA)
    customer = get_customer(ctx.session, customer_public_id)
    findings = registry.find(
        ctx,
        data_subject(customer),
    )
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.source] = counts.get(finding.source, 0) + 1
    audit.record(ctx, AuditAction.PERSONAL_DATA_REVIEWED, customer, details={"findings": counts})
    return HeldData(customer=customer, findings=findings)
