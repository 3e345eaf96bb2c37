"""What the customers package holds about a person, for the personal-data registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from cs_register.context import Context
from cs_register.crypto import Keyring
from cs_register.customers.models import Customer, CustomerRevision
from cs_register.customers.services import masked_identity_code
from cs_register.identifiers import format_phone
from cs_register.personal_data import DataSubject, Finding, SourceDescription, TableClaim

SOURCE = "customers"


@dataclass(frozen=True)
class CustomerRecords:
    """The customer record itself and its rectification history."""

    keyring: Keyring

    def describe(self) -> SourceDescription:
        return SourceDescription(
            name=SOURCE,
            title="Customer record",
            tables=(
                TableClaim(
                    table="customers",
                    columns=(
                        "given_names",
                        "family_name",
                        "name_key_family_first",
                        "name_key_given_first",
                        "street_address",
                        "postal_code",
                        "city",
                        "country",
                        "phone_e164",
                        "email",
                        "identity_code_ciphertext",
                        "identity_code_index",
                        "last_contact_at",
                    ),
                    purpose="Identifying the customer in customer service.",
                ),
                TableClaim(
                    table="customer_revisions",
                    columns=("customer_id", "old_value_ciphertext", "new_value_ciphertext"),
                    purpose="Rectification history: which value was corrected, when and why.",
                ),
            ),
        )

    def find(
        self, ctx: Context, subject: DataSubject, earlier: Sequence[Finding]
    ) -> Sequence[Finding]:
        customer = ctx.session.get(Customer, subject.customer_id)
        if customer is None:
            return ()
        values = {
            "Name": customer.full_name,
            "Identity code": masked_identity_code(self.keyring, customer) or "",
            "Street address": customer.street_address or "",
            "Postal code": customer.postal_code or "",
            "City": customer.city or "",
            "Country": customer.country or "",
            "Phone": format_phone(customer.phone_e164) if customer.phone_e164 else "",
            "Email": customer.email or "",
        }
        findings = [
            Finding(
                source=SOURCE,
                category="Customer record",
                table="customers",
                reference=customer.public_id,
                occurred_at=customer.created_at,
                fields=tuple((label, value) for label, value in values.items() if value),
            )
        ]
        revisions = ctx.session.scalars(
            sa.select(CustomerRevision)
            .where(CustomerRevision.customer_id == customer.id)
            .order_by(CustomerRevision.changed_at, CustomerRevision.id)
        )
        findings.extend(
            Finding(
                source=SOURCE,
                category="Rectification",
                table="customer_revisions",
                reference=f"customer_revisions:{revision.id}",
                occurred_at=revision.changed_at,
                # The old and new values stay encrypted here; the history page decrypts them.
                fields=(("Field", revision.field), ("Reason", revision.reason)),
            )
            for revision in revisions
        )
        return findings
