"""Objection to processing (GDPR article 21): what the customer objects to, while it stands.

While an objection stands, no quality-development hold may be placed on the customer's
recordings (a complaint hold still may: the complaint is theirs), and they are left out of any
quality sampling. Recording and withdrawing the objection are audited steps of the DPO's.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.audit.models import AuditAction
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.customers.restriction import MAX_REASON, dpo_customer, dpo_step_done
from cs_register.customers.staff_text import validate_free_text
from cs_register.errors import Conflict
from cs_register.languages import N_


def objects_to_quality_work(session: Session, customer_id: int | None) -> bool:
    if customer_id is None:
        return False
    objected = session.scalar(sa.select(Customer.objected_at).where(Customer.id == customer_id))
    return objected is not None


def record_objection(ctx: Context, *, customer_public_id: str, objection: str) -> Customer:
    customer = dpo_customer(ctx, customer_public_id)
    if customer.objected_at is not None:
        raise Conflict("An objection is already recorded for this customer.")
    customer.objection = validate_free_text(
        objection, field="objection", label=N_("The objection"), min_length=1, max_length=MAX_REASON
    )
    customer.objected_at = ctx.now
    customer.objection_recorded_by_id = ctx.actor.staff_id
    return dpo_step_done(ctx, AuditAction.CUSTOMER_OBJECTION_RECORDED, customer)


def withdraw_objection(ctx: Context, *, customer_public_id: str) -> Customer:
    customer = dpo_customer(ctx, customer_public_id)
    if customer.objected_at is None:
        raise Conflict("No objection is recorded for this customer.")
    customer.objection = None
    customer.objected_at = None
    customer.objection_recorded_by_id = None
    return dpo_step_done(ctx, AuditAction.CUSTOMER_OBJECTION_WITHDRAWN, customer)
