"""Server-side staff sessions: opened at login, resumed on every request, ended at logout, by
an idle timeout, an absolute lifetime, or an administrator's change to the account.

The cookie carries a random token; only its SHA-256 is stored, so a copy of the database
opens no sessions.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import Context
from cs_register.permissions import Actor
from cs_register.staff.models import StaffSession, StaffUser


@dataclass(frozen=True)
class SessionPolicy:
    idle_timeout: timedelta
    absolute_lifetime: timedelta


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(ctx: Context, *, user: StaffUser) -> str:
    """Open a server-side session and return the token for the cookie (shown nowhere else)."""
    token = secrets.token_urlsafe(32)
    ctx.session.add(
        StaffSession(
            token_hash=hash_token(token), user=user, created_at=ctx.now, last_seen_at=ctx.now
        )
    )
    audit.record(ctx.acting_as(Actor.for_staff(user)), AuditAction.LOGIN, user)
    return token


# Writing last_seen_at on every request would make every page view a write; a minute of
# slack on a 30-minute idle timeout is immaterial.
_LAST_SEEN_GRANULARITY = timedelta(minutes=1)


def find_session(session: Session, token: str) -> StaffSession | None:
    return session.scalar(
        sa.select(StaffSession).where(StaffSession.token_hash == hash_token(token))
    )


# The change resuming a session makes to its row, besides ending it for a reason.
_TOUCH = "touch"


@dataclass(frozen=True)
class SessionCheck:
    """What `check_session` found: whether the row is live, and the change its row needs
    (`_TOUCH`, an end reason, or None), made only by `apply`."""

    row: StaffSession
    live: bool
    change: str | None

    def apply(self, now: datetime) -> StaffSession | None:
        """Make the change (if any) to the row; the live session, or None."""
        if self.change == _TOUCH:
            self.row.last_seen_at = now
        elif self.change is not None:
            _revoke(self.row, now, self.change)
        return self.row if self.live else None


def check_session(
    session: Session, *, token: str, now: datetime, policy: SessionPolicy, touch: bool = True
) -> SessionCheck | None:
    """`resume_session`'s reads and decision, changing nothing: None when no row has the
    token."""
    row = find_session(session, token)
    if row is None:
        return None
    if row.revoked_at is not None or not row.user.is_active:
        return SessionCheck(row, live=False, change=None)
    if now - row.last_seen_at >= policy.idle_timeout:
        return SessionCheck(row, live=False, change="idle_timeout")
    if now - row.created_at >= policy.absolute_lifetime:
        return SessionCheck(row, live=False, change="lifetime")
    if touch and now - row.last_seen_at >= _LAST_SEEN_GRANULARITY:
        return SessionCheck(row, live=True, change=_TOUCH)
    return SessionCheck(row, live=True, change=None)


def resume_session(
    session: Session, *, token: str, now: datetime, policy: SessionPolicy, touch: bool = True
) -> StaffSession | None:
    """The live session for a cookie token, or None if it was revoked, idle or too old (an
    idle or too old one is revoked in `session`).

    `touch=False` for a request the browser made by itself (a poll): it is checked like any
    other but does not count as activity, or an open console would never go idle."""
    check = check_session(session, token=token, now=now, policy=policy, touch=touch)
    return None if check is None else check.apply(now)


def _revoke(row: StaffSession, now: datetime, reason: str) -> None:
    if row.revoked_at is None:
        row.revoked_at = now
        row.revoked_reason = reason


def end_session(ctx: Context, *, token: str) -> None:
    row = find_session(ctx.session, token)
    if row is None or row.revoked_at is not None:
        return
    _revoke(row, ctx.now, "logout")
    audit.record(
        ctx.acting_as(Actor.for_staff(row.user)), AuditAction.LOGOUT, ("staff", row.user.public_id)
    )


def revoke_all_sessions(
    session: Session, *, user: StaffUser, now: datetime, reason: str, keep_token: str | None = None
) -> int:
    keep_hash = hash_token(keep_token) if keep_token else None
    rows = session.scalars(
        sa.select(StaffSession).where(
            StaffSession.user_id == user.id, StaffSession.revoked_at.is_(None)
        )
    ).all()
    count = 0
    for row in rows:
        if row.token_hash != keep_hash:
            _revoke(row, now, reason)
            count += 1
    return count


def live_session_condition(now: datetime, policy: SessionPolicy) -> sa.ColumnElement[bool]:
    """Rows `resume_session` would still accept (the user's own active flag aside)."""
    return sa.and_(
        StaffSession.revoked_at.is_(None),
        StaffSession.last_seen_at > now - policy.idle_timeout,
        StaffSession.created_at > now - policy.absolute_lifetime,
    )


def purge_expired_sessions(session: Session, *, now: datetime, policy: SessionPolicy) -> int:
    """Delete session rows that can never be used again: revoked, idle past the timeout, or
    past their absolute lifetime.

    They hold nothing personal, but there is no reason to keep them; the audit trail keeps the
    logins and logouts. Idempotent: run it as often as you like.
    """
    result = session.execute(
        sa.delete(StaffSession)
        .where(sa.not_(live_session_condition(now, policy)))
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def live_sessions_of(
    session: Session, *, user: StaffUser, now: datetime, policy: SessionPolicy
) -> list[StaffSession]:
    """The account's sessions still usable now, newest first."""
    return list(
        session.scalars(
            sa.select(StaffSession)
            .where(StaffSession.user_id == user.id, live_session_condition(now, policy))
            .order_by(StaffSession.created_at.desc(), StaffSession.id.desc())
        )
    )
