"""What the customers package holds about a person, for the personal-data registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from cs_register import personal_data as registry
from cs_register.context import Context
from cs_register.crypto import Keyring
from cs_register.customers.models import Customer, CustomerRevision
from cs_register.customers.services import masked_identity_code
from cs_register.db import affected_rows
from cs_register.identifiers import format_phone
from cs_register.languages import N_

_NAME_COLUMNS = ("given_names", "family_name", "name_key_family_first", "name_key_given_first")
_ADDRESS_COLUMNS = ("street_address", "postal_code", "city", "country")
_REVISION_COLUMNS = ("old_value_ciphertext", "new_value_ciphertext")
_CODE_COLUMNS = ("identity_code_ciphertext", "identity_code_index")
DESCRIPTION = registry.SourceDescription(
    name="customers",
    title=N_("Customer record"),
    retention=N_(
        "With no contact left, CONTACT_RETENTION_DAYS after the last contact, unless an open"
        " request keeps it (contacts.retention)."
    ),
    tables=(
        registry.claim(
            "customers",
            N_("Identifying the customer in customer service."),
            *_NAME_COLUMNS,
            *_ADDRESS_COLUMNS,
            "phone_e164",
            "email",
            *_CODE_COLUMNS,
        ),
        registry.claim(
            "customer_revisions",
            N_("Rectification history: which value was corrected, when and why."),
            *_REVISION_COLUMNS,
        ),
    ),
)
RECORD = DESCRIPTION.finding_kind("customers", N_("Customer record"))
REVISION = DESCRIPTION.finding_kind("customer_revisions", N_("Rectification"))


@dataclass(frozen=True)
class CustomerRecords(registry.DescribedSource, description=DESCRIPTION):
    """The customer record itself and its rectification history."""

    keyring: Keyring

    def erase(
        self, ctx: Context, scope: registry.ErasureScope, tally: registry.ErasureTally
    ) -> None:
        """The record and its corrections go last: everything else pointed at them."""
        if scope.subject is None:
            return
        customer_id = scope.subject.customer_id
        revisions = affected_rows(
            ctx.session,
            sa.delete(CustomerRevision).where(CustomerRevision.customer_id == customer_id),
        )
        tally.count(REVISION.category, revisions)
        records = affected_rows(ctx.session, sa.delete(Customer).where(Customer.id == customer_id))
        tally.count(RECORD.category, records)

    def find(
        self, ctx: Context, subject: registry.DataSubject, earlier: Sequence[registry.Finding]
    ) -> Sequence[registry.Finding]:
        customer = ctx.session.get(Customer, subject.customer_id)
        if customer is None:
            return ()
        phone = format_phone(customer.phone_e164) if customer.phone_e164 else None
        address = (customer.street_address, customer.postal_code, customer.city, customer.country)
        values = {
            N_("Name"): customer.full_name,
            N_("Identity code"): masked_identity_code(self.keyring, customer),
            N_("Address"): ", ".join(part for part in address if part),
            N_("Phone"): phone,
            N_("Email"): customer.email,
        }
        held = tuple((label, value) for label, value in values.items() if value)
        findings = [RECORD.of(customer.public_id, customer.created_at, *held)]
        revisions = ctx.session.scalars(
            sa.select(CustomerRevision)
            .where(CustomerRevision.customer_id == customer.id)
            .order_by(CustomerRevision.changed_at, CustomerRevision.id)
        )
        # The old and new values stay encrypted here; the history page decrypts them.
        for revision in revisions:
            row = f"customer_revisions:{revision.id}"
            what = ((N_("Field"), revision.field), (N_("Reason"), revision.reason))
            findings.append(REVISION.of(row, revision.changed_at, *what))
        return findings


def data_subject(customer: Customer) -> registry.DataSubject:
    """The person a right is exercised for, as the registry's sources look for them."""
    return registry.DataSubject(
        customer_id=customer.id,
        customer_public_id=customer.public_id,
        phone_e164=customer.phone_e164,
        email=customer.email,
    )
