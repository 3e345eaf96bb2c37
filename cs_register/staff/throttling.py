"""Login throttling that slows attackers down and locks nobody out: the one place the rule
is defined.

Every attempt to sign in is already recorded with its source address and outcome
(`staff.sign_ins`); the limits count those records, so they hold across every web process and
host, need no Redis (login must work when Redis is down) and follow the app's clock:

- **per source address**: `PER_ADDRESS` failed attempts within `WINDOW` (any usernames) and
  that address must wait: password spraying from one place stops;
- **per account and address**: `PER_ACCOUNT_ADDRESS` failed attempts for one account from one
  address within `WINDOW`, and that address must wait before trying that account again.

The account itself is never locked: its owner, from their own address, logs in while an
attacker elsewhere is held back (an account lockout would let anyone lock out the admin). A
throttled attempt is answered 429 with `Retry-After`, audited (`login_throttled`), and not
counted as a failure, so waiting is enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.staff.models import StaffSignIn
from cs_register.staff.sign_ins import SIGNED_IN

WINDOW = timedelta(minutes=15)
PER_ADDRESS = 20
PER_ACCOUNT_ADDRESS = 5
THROTTLED = "throttled"


@dataclass(frozen=True)
class Throttle:
    """Why an attempt must wait, and how long (whole seconds, at least 1)."""

    limit: str  # "address" or "account_address"
    retry_after: int


_ANY_ACCOUNT = -1


def _failures(address: str | None, user_id: int | None, now: datetime) -> sa.Select[Any]:
    """Failed attempts from `address` in the window: for any account (`_ANY_ACCOUNT`), for
    one, or (None) for usernames that named no account."""
    query = sa.select(StaffSignIn.occurred_at).where(
        StaffSignIn.occurred_at > now - WINDOW,
        StaffSignIn.outcome.not_in((SIGNED_IN, THROTTLED)),
        StaffSignIn.source_address.is_(None)
        if address is None
        else StaffSignIn.source_address == address,
    )
    if user_id is None:
        query = query.where(StaffSignIn.user_id.is_(None))
    elif user_id != _ANY_ACCOUNT:
        query = query.where(StaffSignIn.user_id == user_id)
    return query.order_by(StaffSignIn.occurred_at.desc())


def _wait(session: Session, query: sa.Select[Any], limit: int, now: datetime) -> int:
    """Seconds until fewer than `limit` failures are left in the window (0: none to wait)."""
    recent: list[datetime] = list(session.scalars(query.limit(limit)))
    if len(recent) < limit:
        return 0
    # When the oldest of the last `limit` failures leaves the window, one more try is allowed.
    return max(1, int((recent[-1] + WINDOW - now).total_seconds() + 0.999))


def throttle(
    session: Session, *, address: str | None, user_id: int | None, now: datetime
) -> Throttle | None:
    """The limit this attempt runs into, if any.

    Usernames that name no account share one account-and-address count (their names are not
    recorded): probing one unknown name is held back after the same five tries as a real
    one, so the 429 does not tell which usernames exist."""
    wait = _wait(session, _failures(address, _ANY_ACCOUNT, now), PER_ADDRESS, now)
    if wait:
        return Throttle("address", wait)
    wait = _wait(session, _failures(address, user_id, now), PER_ACCOUNT_ADDRESS, now)
    if wait:
        return Throttle("account_address", wait)
    return None
