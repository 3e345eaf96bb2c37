"""Restriction of processing (GDPR article 18): who may still see a restricted customer.

While a customer is restricted (for instance while a rectification they asked for is pending):
- only the data-protection officer sees the record; to everyone else it does not exist
  (search, lists, the customer, contact and recording pages answer "not found");
- new contacts that match the customer are not linked to them: they wait, held for them
  (`contacts.held_for_customer_id`), in the unidentified queue of the DPO alone, and are
  linked to them when the restriction is lifted;
- their recordings cannot be played by agents or supervisors;
- retention purges still run: a restriction keeps nothing longer.
Lifting the restriction is a recorded step, like placing it.
"""

from __future__ import annotations

import sqlalchemy as sa

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.customers.staff_text import validate_free_text
from cs_register.errors import Conflict, NotFound
from cs_register.languages import N_
from cs_register.permissions import Permission, Principal, has_permission, require

MAX_REASON = 2000
MIN_REASON = 10


def sees_restricted(actor: Principal | None) -> bool:
    return has_permission(actor, Permission.HANDLE_PRIVACY_REQUESTS)


def visible_to(actor: Principal | None) -> sa.ColumnElement[bool]:
    """A WHERE clause on `Customer` leaving out whom `actor` may not see."""
    if sees_restricted(actor):
        return sa.true()
    return Customer.restricted_at.is_(None)


def linkable() -> sa.ColumnElement[bool]:
    """Customers an incoming contact may be linked to automatically: the unrestricted."""
    return Customer.restricted_at.is_(None)


def check_visible(actor: Principal | None, customer: Customer | None) -> None:
    """NotFound, as for a customer that does not exist, when `actor` may not see them."""
    if customer is not None and customer.is_restricted and not sees_restricted(actor):
        raise NotFound("No such customer.")


def dpo_customer(ctx: Context, public_id: str) -> Customer:
    """The customer a step of the DPO's changes (restricting, an objection), once the actor is
    seen to handle privacy requests."""
    require(ctx.actor, Permission.HANDLE_PRIVACY_REQUESTS)
    # Imported here: the customer services check visibility with this module's rule.
    from cs_register.customers.services import get_customer

    return get_customer(ctx.session, public_id)


def dpo_step_done(ctx: Context, action: AuditAction, customer: Customer) -> Customer:
    """The changed customer, flushed, with the step audited."""
    ctx.session.flush()
    audit.record(ctx, action, customer)
    return customer


def _reason(raw: str, label: str) -> str:
    return validate_free_text(
        raw, field="reason", label=label, min_length=MIN_REASON, max_length=MAX_REASON
    )


def restrict(ctx: Context, *, customer_public_id: str, reason: str) -> Customer:
    """Restrict the processing of the customer's data, with the reason (e.g. a pending
    rectification); audited, the reason staying on the record."""
    customer = dpo_customer(ctx, customer_public_id)
    if customer.is_restricted:
        raise Conflict("The processing of this customer's data is already restricted.")
    customer.restriction_reason = _reason(reason, N_("The reason"))
    customer.restricted_at = ctx.now
    customer.restricted_by_id = ctx.actor.staff_id
    return dpo_step_done(ctx, AuditAction.CUSTOMER_RESTRICTED, customer)


def lift_restriction(ctx: Context, *, customer_public_id: str) -> Customer:
    customer = dpo_customer(ctx, customer_public_id)
    if not customer.is_restricted:
        raise Conflict("The processing of this customer's data is not restricted.")
    customer.restricted_at = None
    customer.restriction_reason = None
    customer.restricted_by_id = None
    return dpo_step_done(ctx, AuditAction.CUSTOMER_RESTRICTION_LIFTED, customer)
