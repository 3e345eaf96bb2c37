"""How a browser's session cookie becomes a logged-in staff member (Flask-Login's loader).

Our own server-side session rows (`staff.sessions.resume_session`) decide: idle timeout,
absolute lifetime and sign-out are checked on every request, so a stolen cookie dies with its
row. Wired by `create_app`; the request plumbing (`cs_register.web`) only reads the result.
"""

from __future__ import annotations

from flask import Flask, session
from flask_babel import gettext
from flask_login import LoginManager

from cs_register.db import get_session
from cs_register.errors import PermissionDenied
from cs_register.languages import N_
from cs_register.staff.models import StaffSession, StaffUser
from cs_register.staff.passwords import PasswordHashing
from cs_register.staff.sessions import SessionPolicy, resume_session
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
        row: StaffSession | None = resume_session(
            get_session(),
            token=token,
            now=now(),
            policy=session_policy(),
            touch=not is_background_request(),
        )
        if row is None or str(row.user_id) != user_id:
            session.clear()
            return None
        return row.user


def current_account() -> StaffUser:
    """The logged-in staff member's own account row, for the staff package's own pages.

    Other packages see the account only as a `StaffPrincipal` (`web.require_staff`).
    """
    account = require_staff()
    if not isinstance(account, StaffUser):
        raise PermissionDenied("You must be logged in.")
    return account
