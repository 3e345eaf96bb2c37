"""Rectification of whose contact it is: while handling a rectification request, the DPO
moves a contact that was linked to the request's customer by mistake to the right customer
(or to nobody: it then waits unlinked). The move itself is `cs_register.contacts.relinking`."""

from __future__ import annotations

from cs_register.contacts.models import Contact, ContactRelink
from cs_register.contacts.relinking import relink_contact
from cs_register.contacts.services import get_contact
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.customers.services import get_visible_customer
from cs_register.errors import Conflict, ValidationFailed
from cs_register.languages import N_
from cs_register.privacy import validation
from cs_register.privacy.cases import open_case
from cs_register.privacy.models import PrivacyRequest, RequestKind


def contact_to_move(
    ctx: Context, *, public_id: str, contact_public_id: str
) -> tuple[PrivacyRequest, Contact]:
    """The open rectification case and its contact, when the contact is linked to the case's
    customer."""
    case = _rectification_case(ctx, public_id)
    contact = get_contact(ctx, public_id=contact_public_id)
    if contact.customer_id is None or contact.customer_id != case.customer_id:
        raise Conflict("Only a contact linked to this request's customer can be moved here.")
    return case, contact


def move_contact(
    ctx: Context, *, public_id: str, contact_public_id: str, customer: str, reason: str
) -> ContactRelink:
    """Move the contact to the customer `customer` (a public id), or to nobody when empty."""
    case, contact = contact_to_move(ctx, public_id=public_id, contact_public_id=contact_public_id)
    errors: dict[str, list[str]] = {}
    clean_reason = validation.reason(errors, "reason", reason, label=N_("Reason"))
    if errors:
        raise ValidationFailed(errors)
    to_customer = get_visible_customer(ctx, customer) if customer else None
    return relink_contact(
        ctx,
        contact=contact,
        to_customer=to_customer,
        reason=clean_reason,
        request_public_id=case.public_id,
    )


def _rectification_case(ctx: Context, public_id: str) -> PrivacyRequest:
    case = open_case(ctx, public_id)
    if case.kind is not RequestKind.RECTIFICATION:
        raise Conflict("Contacts are moved in a rectification request.")
    if case.customer_id is None or ctx.session.get(Customer, case.customer_id) is None:
        raise Conflict("The register holds no data about this requester.")
    return case
