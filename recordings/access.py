"""Whose recordings a staff member may open (the page) and hear, beyond what their role grants.

- A restricted customer's recordings are hidden from agents and supervisors: to them the
  recording does not exist (`cs_register.customers.restriction`).
- The data-protection officer opens and plays only the recordings a privacy request concerns:
  those of a customer with an open case. Everything else does not exist for the DPO either.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.contacts.models import Contact
from cs_register.customers import restriction
from cs_register.customers.models import Customer
from cs_register.errors import NotFound
from cs_register.permissions import Permission, Principal, has_permission
from cs_register.privacy.cases import has_open_case
from recordings.models import Recording


def may_listen(session: Session, actor: Principal | None, recording: Recording) -> bool:
    """Whether pages should offer `actor` the player and links for `recording`."""
    if not has_permission(actor, Permission.PLAY_RECORDINGS):
        return False
    try:
        check_may_open(session, actor, recording)
    except NotFound:
        return False
    return True


def check_may_open(session: Session, actor: Principal | None, recording: Recording) -> None:
    contact = session.get(Contact, recording.contact_id)
    customer = (
        session.get(Customer, contact.customer_id) if contact and contact.customer_id else None
    )
    if has_permission(actor, Permission.HANDLE_PRIVACY_REQUESTS):
        if customer is None or not has_open_case(session, customer.id):
            raise NotFound("No such recording.")
        return
    if customer is not None and customer.is_restricted and not restriction.sees_restricted(actor):
        raise NotFound("No such recording.")


def listed_for(actor: Principal | None) -> sa.ColumnElement[bool]:
    """SQL for the recordings `actor` may see in a list: for anyone who does not see
    restricted customers, none of a restricted customer's and none held for one (the rule
    `check_may_open` applies to a single recording, so a list never names what its page
    would deny)."""
    if restriction.sees_restricted(actor):
        return sa.true()
    hidden = sa.exists().where(
        Contact.id == Recording.contact_id,
        sa.or_(
            Contact.held_for_customer_id.is_not(None),
            sa.exists().where(
                Customer.id == Contact.customer_id, Customer.restricted_at.is_not(None)
            ),
        ),
    )
    return ~hidden
