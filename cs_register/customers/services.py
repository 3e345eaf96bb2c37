"""Customers: create, view, rectify, reveal the identity code, read the history (finding them
is `customers.search`).

Every service takes a `Context` and only flushes; the request or job commits. Each
one checks the actor's role itself and writes its audit row into the same session, so the
change and its audit row stand or fall together.

Identity codes exist in clear only in memory: stored encrypted (bound to the customer's
`public_id`), found through a 16-bit blind index plus exact comparison of the decrypted
candidates, and shown masked unless someone reveals one with a stated purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.audit.services import AuditDetailsContainPersonalData
from cs_register.clock import local_today
from cs_register.context import Context
from cs_register.crypto import DecryptionError, Keyring
from cs_register.customers import restriction
from cs_register.customers.models import Customer
from cs_register.customers.staff_text import validate_free_text
from cs_register.db import new_public_id
from cs_register.errors import NotFound, ValidationFailed
from cs_register.free_text import contains_identity_code
from cs_register.identifiers import (
    CustomerFields,
    format_phone_local,
    mask_identity_code,
    search_key,
    validate_customer_fields,
)
from cs_register.languages import N_
from cs_register.lookup import by_public_id
from cs_register.permissions import Permission, require

log = logging.getLogger(__name__)

MIN_PURPOSE = 5
MAX_PURPOSE = 200

# The customer fields in form order; revisions and audit details use these names.
CUSTOMER_FIELDS = (
    "given_names",
    "family_name",
    "street_address",
    "postal_code",
    "city",
    "country",
    "phone",
    "email",
    "identity_code",
)
_FREE_TEXT_FIELDS = ("given_names", "family_name", "street_address", "city")
# Key for PostgreSQL advisory locks taken while checking identity codes for duplicates.
_IDENTITY_CODE_LOCK_NAMESPACE = 0x43530001


@dataclass(frozen=True)
class CustomerView:
    """What the customer page shows of the customer itself: masked code, display phone.

    The contact timeline and the rest come from the packages that hold them
    (`pages.CUSTOMER_PAGE_PANELS`).
    """

    customer: Customer
    masked_identity_code: str | None
    phone_display: str | None


def set_clear_fields(customer: Customer, fields: CustomerFields) -> None:
    """Put the validated fields that are stored in clear on the record (the identity code is
    encrypted by the caller, bound to the record's public id)."""
    customer.given_names = fields.given_names
    customer.family_name = fields.family_name
    customer.street_address = fields.street_address
    customer.postal_code = fields.postal_code
    customer.city = fields.city
    customer.country = fields.country
    customer.phone_e164 = fields.phone
    customer.email = fields.email


def validate_fields(form: Mapping[str, str | None], *, now: datetime) -> CustomerFields:
    """`validate_customer_fields`, plus: no identity code hidden in a clear-text field."""
    fields = validate_customer_fields(form, today=local_today(now))
    misplaced = {
        name: [N_("Identity codes belong in the identity code field only.")]
        for name in _FREE_TEXT_FIELDS
        if contains_identity_code(getattr(fields, name))
    }
    if misplaced:
        raise ValidationFailed(misplaced)
    return fields


# --- reading -------------------------------------------------------------------------------


def get_customer(session: Session, public_id: str) -> Customer:
    """The customer with this public id, or NotFound. No permission check and no audit row:
    callers that show the data to someone must use `view_customer`."""
    return by_public_id(session, Customer, public_id, missing="No such customer.")


def get_visible_customer(ctx: Context, public_id: str) -> Customer:
    """The customer, or NotFound when there is none or `ctx`'s actor may not see them (a
    restricted customer, for everyone but the DPO)."""
    customer = get_customer(ctx.session, public_id)
    restriction.check_visible(ctx.actor, customer)
    return customer


def decrypt_identity_code(keyring: Keyring, customer: Customer) -> str | None:
    """The customer's identity code in clear, or None if none is stored.

    Raises DecryptionError when the ciphertext does not belong to this row (tampering or a
    wrong key): showing someone else's code would be worse than failing.
    """
    if customer.identity_code_ciphertext is None:
        return None
    return keyring.identity_code.decrypt(
        customer.identity_code_ciphertext, row_id=customer.public_id
    )


def masked_identity_code(keyring: Keyring, customer: Customer) -> str | None:
    code = decrypt_identity_code(keyring, customer)
    return mask_identity_code(code) if code is not None else None


def customers_with_identity_code(
    session: Session, keyring: Keyring, identity_code: str
) -> list[Customer]:
    """Exact match through the blind index: a bucket of candidates, each decrypted and compared."""
    # During a key rotation rows sit under the old and the new version, each indexed with its
    # own version's key: ask for the bucket under every version.
    buckets = keyring.identity_code.blind_indexes(identity_code)
    candidates = session.scalars(
        sa.select(Customer)
        .where(
            sa.or_(
                *(
                    sa.and_(
                        Customer.identity_code_key_version == version,
                        Customer.identity_code_index == bucket,
                    )
                    for version, bucket in buckets.items()
                )
            )
        )
        .order_by(Customer.id)
    ).all()
    matches = []
    for candidate in candidates:
        try:
            stored = decrypt_identity_code(keyring, candidate)
        except DecryptionError:
            # Only the row id goes to the log; the row needs an administrator's attention.
            log.error("identity code of customer %s failed to decrypt", candidate.public_id)
            continue
        if stored == identity_code:
            matches.append(candidate)
    return matches


def _lock_identity_code_bucket(session: Session, keyring: Keyring, identity_code: str) -> None:
    """Serialise duplicate checks for one blind-index bucket until the transaction ends.

    The index is deliberately truncated, so no unique constraint can catch two agents creating
    the same person at the same moment. PostgreSQL gets a transaction-scoped advisory lock;
    SQLite already serialises writers and fails the second one instead.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    bucket = keyring.identity_code.blind_index(identity_code)
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(_IDENTITY_CODE_LOCK_NAMESPACE, bucket)))


def refuse_duplicate_identity_code(
    session: Session, keyring: Keyring, identity_code: str, *, except_customer: Customer | None
) -> None:
    _lock_identity_code_bucket(session, keyring, identity_code)
    others = [
        match
        for match in customers_with_identity_code(session, keyring, identity_code)
        if except_customer is None or match.id != except_customer.id
    ]
    if others:
        # Marked outside the call: the extractor loses a message nested in ValidationFailed(...).
        message = N_(
            "Another customer already has this identity code. Search for it instead"
            " of creating a duplicate."
        )
        raise ValidationFailed({"identity_code": [message]})


# --- create --------------------------------------------------------------------------------


def _given_field_names(fields: CustomerFields) -> list[str]:
    return [name for name in CUSTOMER_FIELDS if getattr(fields, name) is not None]


def set_name_keys(customer: Customer) -> None:
    customer.name_key_family_first = search_key(f"{customer.family_name} {customer.given_names}")
    customer.name_key_given_first = search_key(f"{customer.given_names} {customer.family_name}")


def create_customer(
    ctx: Context,
    keyring: Keyring,
    *,
    form: Mapping[str, str | None],
) -> Customer:
    """Validate `form`, refuse a duplicate identity code, store the customer and audit it."""
    session, now = ctx.session, ctx.now
    require(ctx.actor, Permission.EDIT_CUSTOMERS)
    fields = validate_fields(form, now=now)
    if fields.identity_code is not None:
        refuse_duplicate_identity_code(session, keyring, fields.identity_code, except_customer=None)
    # The ciphertext is bound to the public id, so the id must exist before encrypting.
    public_id = new_public_id()
    customer = Customer(
        public_id=public_id, created_at=now, updated_at=now, created_by_id=ctx.actor.staff_id
    )
    set_clear_fields(customer, fields)
    if fields.identity_code is not None:
        customer.identity_code_ciphertext = keyring.identity_code.encrypt(
            fields.identity_code, row_id=public_id
        )
        customer.identity_code_index = keyring.identity_code.blind_index(fields.identity_code)
        customer.identity_code_key_version = keyring.identity_code.current_version
    set_name_keys(customer)
    session.add(customer)
    session.flush()
    audit.record(
        ctx, AuditAction.CUSTOMER_CREATED, customer, details={"fields": _given_field_names(fields)}
    )
    return customer


# --- view ----------------------------------------------------------------------------------


def view_customer(ctx: Context, keyring: Keyring, *, public_id: str) -> CustomerView:
    """The customer page's data (identity code masked), audited as a view."""
    require(ctx.actor, Permission.VIEW_CUSTOMERS)
    customer = get_visible_customer(ctx, public_id)
    view = CustomerView(
        customer=customer,
        masked_identity_code=masked_identity_code(keyring, customer),
        phone_display=format_phone_local(customer.phone_e164) if customer.phone_e164 else None,
    )
    audit.record(ctx, AuditAction.CUSTOMER_VIEWED, customer)
    return view


# --- identity code reveal ------------------------------------------------------------------


def reveal_identity_code(ctx: Context, keyring: Keyring, *, public_id: str, purpose: str) -> str:
    """The full identity code, for a stated purpose that goes into the audit trail."""
    require(ctx.actor, Permission.REVEAL_IDENTITY_CODE)
    customer = get_visible_customer(ctx, public_id)
    purpose = validate_free_text(
        purpose,
        field="purpose",
        label=N_("Purpose"),
        min_length=MIN_PURPOSE,
        max_length=MAX_PURPOSE,
    )
    code = decrypt_identity_code(keyring, customer)
    if code is None:
        raise NotFound("No identity code is stored for this customer.")
    try:
        audit.record(
            ctx, AuditAction.IDENTITY_CODE_REVEALED, customer, details={"purpose": purpose}
        )
    except AuditDetailsContainPersonalData:
        # The audit trail's own, broader check; it runs before anything is added to the session.
        message = N_("Describe the purpose without personal data.")
        raise ValidationFailed({"purpose": [message]}) from None
    return code
