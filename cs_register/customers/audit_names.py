"""How the audit trail names a customer (`audit.naming`, wired in `create_app`)."""

from __future__ import annotations

from typing import Any

from cs_register.audit.naming import SubjectName, subject_namer
from cs_register.customers.models import Customer
from cs_register.customers.restriction import sees_restricted
from cs_register.permissions import Permission, Principal, has_permission

ERASED = SubjectName("erased customer", gone=True)
# A customer the viewer may not see (restricted, or a role without customers): the trail still
# shows that something happened to a customer, but neither who nor a link to them.
UNNAMED = SubjectName("customer")


def _customer_name(row: Any, viewer: Principal) -> SubjectName:
    """The full name, which a viewer who may read customers sees on their page anyway; never
    the identity code."""
    if not has_permission(viewer, Permission.VIEW_CUSTOMERS):
        return UNNAMED
    if row.restricted_at is not None and not sees_restricted(viewer):
        return UNNAMED
    return SubjectName(f"{row.given_names} {row.family_name}", endpoint="customers.customer_page")


# A customer no longer in the register was erased (or removed by retention, which erases the
# same way).
customer_names = subject_namer(
    Customer,
    (Customer.given_names, Customer.family_name, Customer.restricted_at),
    name=_customer_name,
    gone=ERASED,
)
