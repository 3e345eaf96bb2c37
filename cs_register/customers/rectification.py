"""Rectification: correcting a customer's fields with a stated reason, and the history of
corrections (old and new values kept encrypted, each bound to its customer, field, revision
and side).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import Context
from cs_register.crypto import Keyring
from cs_register.customers.models import Customer, CustomerRevision
from cs_register.customers.services import (
    CUSTOMER_FIELDS,
    decrypt_identity_code,
    get_visible_customer,
    refuse_duplicate_identity_code,
    set_clear_fields,
    set_name_keys,
    validate_fields,
)
from cs_register.customers.staff_text import validate_free_text
from cs_register.errors import ValidationFailed
from cs_register.identifiers import (
    mask_identity_code,
)
from cs_register.languages import N_
from cs_register.permissions import Permission, require
from cs_register.staff.models import StaffUser

MAX_REASON = 500


@dataclass(frozen=True)
class RevisionView:
    """One rectified field, decrypted for display (identity codes stay masked)."""

    field: str
    old_value: str | None
    new_value: str | None
    reason: str
    changed_by: str
    changed_at: datetime


# What the console calls each of the customer's fields (the history page, exports): English,
# marked for the catalogs; pages show them with `|translated`.
FIELD_LABELS = {
    "given_names": N_("Given names"),
    "family_name": N_("Family name"),
    "street_address": N_("Street address"),
    "postal_code": N_("Postal code"),
    "city": N_("City"),
    "country": N_("Country"),
    "phone": N_("Phone"),
    "email": N_("Email"),
    "identity_code": N_("Identity code"),
}


def current_values(keyring: Keyring, customer: Customer) -> dict[str, str | None]:
    """The customer's fields as a rectification compares them (identity code decrypted)."""
    return {
        "given_names": customer.given_names,
        "family_name": customer.family_name,
        "street_address": customer.street_address,
        "postal_code": customer.postal_code,
        "city": customer.city,
        "country": customer.country,
        "phone": customer.phone_e164,
        "email": customer.email,
        "identity_code": decrypt_identity_code(keyring, customer),
    }


def _revision_binding(customer: Customer, field: str, revision_id: int, which: str) -> str:
    """Associated data for a revision value: the customer, field, revision and old/new side,
    so a value cannot be moved to another customer, field, revision or side."""
    return f"{customer.public_id}|{field}|{revision_id}|{which}"


# The key rotation (`recordings.key_rotation`) re-encrypts revision values under the same binding.
revision_binding = _revision_binding


def update_customer(
    ctx: Context,
    keyring: Keyring,
    *,
    public_id: str,
    form: Mapping[str, str | None],
    reason: str,
) -> list[str]:
    """Rectify a customer's data and return the names of the fields that changed.

    The whole form is validated again. An empty identity code field keeps the stored code
    unless `clear_identity_code` is "1". Every changed field gets a `CustomerRevision` with the
    old and new value encrypted and the stated reason. Nothing changed means no revision and no
    audit row, and an empty list.
    """
    session, now = ctx.session, ctx.now
    require(ctx.actor, Permission.EDIT_CUSTOMERS)
    customer = get_visible_customer(ctx, public_id)
    errors: dict[str, list[str]] = {}
    try:
        reason = validate_free_text(
            reason, field="reason", label=N_("Reason"), min_length=1, max_length=MAX_REASON
        )
    except ValidationFailed as failure:
        errors.update(failure.errors)
    try:
        fields = validate_fields(form, now=now)
    except ValidationFailed as failure:
        errors.update(failure.errors)
    if errors:
        raise ValidationFailed(errors)

    current = current_values(keyring, customer)
    wanted: dict[str, str | None] = {name: getattr(fields, name) for name in CUSTOMER_FIELDS}
    if wanted["identity_code"] is None and form.get("clear_identity_code") != "1":
        wanted["identity_code"] = current["identity_code"]
    changed = [name for name in CUSTOMER_FIELDS if wanted[name] != current[name]]
    if not changed:
        return []
    new_code = wanted["identity_code"]
    if "identity_code" in changed and new_code is not None:
        refuse_duplicate_identity_code(session, keyring, new_code, except_customer=customer)

    for name in changed:
        revision = CustomerRevision(
            customer_id=customer.id,
            field=name,
            reason=reason,
            changed_by_id=ctx.actor.staff_id,
            changed_at=now,
        )
        session.add(revision)
        # The revision's own id is part of the encryption binding, so it must exist first.
        session.flush()
        old, new = current[name], wanted[name]
        if old is not None:
            revision.old_value_ciphertext = keyring.revision_value.encrypt(
                old, row_id=_revision_binding(customer, name, revision.id, "old")
            )
        if new is not None:
            revision.new_value_ciphertext = keyring.revision_value.encrypt(
                new, row_id=_revision_binding(customer, name, revision.id, "new")
            )

    set_clear_fields(customer, fields)
    if "identity_code" in changed:
        if new_code is None:
            customer.identity_code_ciphertext = None
            customer.identity_code_index = None
        else:
            customer.identity_code_ciphertext = keyring.identity_code.encrypt(
                new_code, row_id=customer.public_id
            )
            customer.identity_code_index = keyring.identity_code.blind_index(new_code)
            customer.identity_code_key_version = keyring.identity_code.current_version
    set_name_keys(customer)
    customer.updated_at = now
    session.flush()
    audit.record(ctx, AuditAction.CUSTOMER_UPDATED, customer, details={"fields": changed})
    return changed


def customer_history(
    ctx: Context,
    keyring: Keyring,
    *,
    public_id: str,
) -> list[RevisionView]:
    """Every rectification of the customer, newest first, decrypted (identity codes masked)."""
    session = ctx.session
    require(ctx.actor, Permission.VIEW_CUSTOMERS)
    customer = get_visible_customer(ctx, public_id)
    rows = session.execute(
        sa.select(CustomerRevision, StaffUser)
        .join(StaffUser, StaffUser.id == CustomerRevision.changed_by_id)
        .where(CustomerRevision.customer_id == customer.id)
        .order_by(CustomerRevision.changed_at.desc(), CustomerRevision.id.desc())
    ).all()

    def reveal(revision: CustomerRevision, ciphertext: bytes | None, which: str) -> str | None:
        if ciphertext is None:
            return None
        value = keyring.revision_value.decrypt(
            ciphertext, row_id=_revision_binding(customer, revision.field, revision.id, which)
        )
        return mask_identity_code(value) if revision.field == "identity_code" else value

    history = [
        RevisionView(
            field=revision.field,
            old_value=reveal(revision, revision.old_value_ciphertext, "old"),
            new_value=reveal(revision, revision.new_value_ciphertext, "new"),
            reason=revision.reason,
            changed_by=f"{staff.display_name} ({staff.username})",
            changed_at=revision.changed_at,
        )
        for revision, staff in rows
    ]
    audit.record(ctx, AuditAction.CUSTOMER_HISTORY_VIEWED, customer)
    return history
