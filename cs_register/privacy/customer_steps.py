"""Restriction and objection, carried out from their case on the case's customer (the rules
themselves are `cs_register.customers.restriction` and `.objection`)."""

from __future__ import annotations

from cs_register.contacts.services import release_held_contacts
from cs_register.context import Context
from cs_register.customers import objection as objections
from cs_register.customers import restriction
from cs_register.customers.models import Customer
from cs_register.errors import Conflict
from cs_register.languages import N_
from cs_register.privacy.cases import open_case
from cs_register.privacy.models import RequestKind

# Whole sentences to translate, by the kind of request a step belongs to.
_BELONGS_TO = {
    RequestKind.RESTRICTION: N_("This step belongs to a restriction of processing request."),
    RequestKind.OBJECTION: N_("This step belongs to an objection to processing request."),
}


def _case_customer(ctx: Context, public_id: str, kind: RequestKind) -> str:
    case = open_case(ctx, public_id)
    if case.kind is not kind:
        raise Conflict(_BELONGS_TO[kind])
    customer = ctx.session.get(Customer, case.customer_id) if case.customer_id else None
    if customer is None:
        raise Conflict("The register holds no data about this requester.")
    return customer.public_id


def restrict_processing(ctx: Context, *, public_id: str, reason: str) -> Customer:
    customer_id = _case_customer(ctx, public_id, RequestKind.RESTRICTION)
    return restriction.restrict(ctx, customer_public_id=customer_id, reason=reason)


def lift_restriction(ctx: Context, *, public_id: str) -> Customer:
    """Lift it, and link to the customer what arrived from them meanwhile (it waited, seen
    only by the DPO, in the unidentified queue)."""
    customer_id = _case_customer(ctx, public_id, RequestKind.RESTRICTION)
    customer = restriction.lift_restriction(ctx, customer_public_id=customer_id)
    release_held_contacts(ctx, customer=customer)
    return customer


def record_objection(ctx: Context, *, public_id: str, objection: str) -> Customer:
    customer_id = _case_customer(ctx, public_id, RequestKind.OBJECTION)
    return objections.record_objection(ctx, customer_public_id=customer_id, objection=objection)


def withdraw_objection(ctx: Context, *, public_id: str) -> Customer:
    customer_id = _case_customer(ctx, public_id, RequestKind.OBJECTION)
    return objections.withdraw_objection(ctx, customer_public_id=customer_id)
