"""Sign-in records: every attempt to sign in, with its source address, kept 45 days.

The privacy statement promises that IP addresses are kept 45 days. Each attempt (signed in,
or refused and why) is one row (`StaffSignIn`) written in the login request's transaction,
which commits even when the login is refused; the maintenance job deletes rows once they are
`SIGN_IN_RETENTION` old, the boundary instant included.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.context import Context
from cs_register.db import affected_rows
from cs_register.staff.models import StaffSignIn, StaffUser

SIGN_IN_RETENTION = timedelta(days=45)
SIGNED_IN = "signed_in"


def record_sign_in(
    ctx: Context, *, user: StaffUser | None, source_address: str | None, outcome: str
) -> None:
    ctx.session.add(
        StaffSignIn(
            occurred_at=ctx.now,
            user_id=user.id if user is not None else None,
            source_address=normalised_address(source_address),
            outcome=outcome,
        )
    )


def normalised_address(raw: str | None) -> str | None:
    """The address as the server saw it, if it is one (nothing else is stored)."""
    if not raw:
        return None
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        return None


def purge_old_sign_ins(session: Session, *, now: datetime) -> int:
    """Delete the records `SIGN_IN_RETENTION` old or older; returns how many."""
    return affected_rows(
        session, sa.delete(StaffSignIn).where(StaffSignIn.occurred_at <= now - SIGN_IN_RETENTION)
    )
