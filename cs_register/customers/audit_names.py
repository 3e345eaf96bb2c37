"""How the audit trail names a customer (`audit.naming`, wired in `create_app`)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy.orm import Session

from cs_register.audit.naming import SubjectName, name_each
from cs_register.customers.models import Customer
from cs_register.customers.restriction import sees_restricted
from cs_register.permissions import Permission, Principal, has_permission

ERASED = SubjectName("erased customer", gone=True)
# A customer the viewer may not see (restricted, or a role without customers): the trail still
# shows that something happened to a customer, but neither who nor a link to them.
UNNAMED = SubjectName("customer")


def customer_names(
    session: Session, subject_type: str, public_ids: Collection[str], viewer: Principal
) -> dict[str, SubjectName] | None:
    """The full name, which a viewer who may read customers sees on their page anyway; never
    the identity code. A customer no longer in the register was erased (or removed by
    retention, which erases the same way)."""
    if subject_type != Customer.audit_subject_type:
        return None
    may_read = has_permission(viewer, Permission.VIEW_CUSTOMERS)
    sees_hidden = sees_restricted(viewer)

    def name(row: Any) -> SubjectName:
        if not may_read or (row.restricted_at is not None and not sees_hidden):
            return UNNAMED
        return SubjectName(
            f"{row.given_names} {row.family_name}", endpoint="customers.customer_page"
        )

    columns = (Customer.given_names, Customer.family_name, Customer.restricted_at)
    return name_each(session, Customer, columns, public_ids, name=name, gone=ERASED)
