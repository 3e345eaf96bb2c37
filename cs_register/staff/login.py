"""How a browser's session cookie becomes a logged-in staff member (Flask-Login's loader).

Our own server-side session rows (`staff.sessions.resume_session`) decide: idle timeout,
absolute lifetime and sign-out are checked on every request, so a stolen cookie dies with its
row. Wired by `create_app`; the request plumbing (`cs_register.web`) only reads the result.
"""

from __future__ import annotations

from flask import Flask, session
from flask_babel import gettext
from flask_login import LoginManager
from sqlalchemy.orm import Session

from cs_register.db import get_session, reading
from cs_register.errors import PermissionDenied
from cs_register.languages import N_
from cs_register.staff.models import StaffSession, StaffUser
from cs_register.staff.passwords import PasswordHashing
from cs_register.staff.sessions import SessionPolicy, check_session, resume_session
from cs_register.web import is_background_request, now, require_staff, shared


def session_policy() -> SessionPolicy:
    """This deployment's session rules (built once with the app's runtime)."""
    return shared("sessions")


def password_hashing() -> PasswordHashing:
    """This deployment's password hashing (built once with the app's runtime)."""
    return shared("passwords")


def init_app(app: Flask) -> None:
    login_manager = LoginManager()
    login_manager.login_view = "auth.login"
    login_manager.login_message = N_("Please log in to continue.")
    login_manager.localize_callback = gettext
    login_manager.login_message_category = "info"
    # Our own server-side sessions replace Flask-Login's remember-me and session protection.
    login_manager.session_protection = None
    login_manager.init_app(app)

    @login_manager.user_loader
    def _load_user(user_id: str) -> StaffUser | None:
        token = session.get("sid")
        if not isinstance(token, str):
            return None
        row = _resume(get_session(), token)
        if row is None or str(row.user_id) != user_id:
            session.clear()
            return None
        return row.user


def _resume(db_session: Session, token: str) -> StaffSession | None:
    """The request's session check, in short transactions of its own when it comes first (it
    does, from `web`'s login check): the row is read without the writers' turn on SQLite, and
    only a change to it (last seen, once a minute at most, or its end) is committed alone, at
    once. Otherwise the request's first transaction would hold SQLite's write lock for the
    whole request, however little the rest of it writes."""
    when, policy, touch = now(), session_policy(), not is_background_request()
    if db_session.in_transaction():
        return resume_session(db_session, token=token, now=when, policy=policy, touch=touch)
    with reading(db_session):
        check = check_session(db_session, token=token, now=when, policy=policy, touch=touch)
    if check is None:
        return None
    row = check.apply(when)
    if check.change is not None:
        db_session.commit()
    return row


def current_account() -> StaffUser:
    """The logged-in staff member's own account row, for the staff package's own pages.

    Other packages see the account only as a `StaffPrincipal` (`web.require_staff`).
    """
    account = require_staff()
    if not isinstance(account, StaffUser):
        raise PermissionDenied("You must be logged in.")
    return account
