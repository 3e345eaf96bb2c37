"""Request plumbing shared by every blueprint: login enforcement, roles, the clock, request ids,
security headers and template helpers.

Secure by default: every endpoint requires a logged-in staff member unless it is listed in
`PUBLIC_ENDPOINTS`, or it is an `/api/` endpoint, which authenticates integrations itself.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, current_app, g, redirect, request, url_for
from flask_login import current_user

from cs_register.clock import local_time
from cs_register.config import Settings
from cs_register.context import Context
from cs_register.crypto import Keyring
from cs_register.db import get_session
from cs_register.errors import PermissionDenied
from cs_register.permissions import Actor, Permission, StaffPrincipal, has_permission

# The short public list. Everything else needs a login (or, under /api/, an integration token).
# The second step of a login is reached before a session exists (its own check is the
# password step's signed marker, `staff.views`).
PUBLIC_ENDPOINTS = frozenset(
    {
        "auth.login",
        "auth.second_step",
        "auth.enrol_second_step",
        "static",
        "health.health",
        "health.healthz",
        "health.readyz",
        # Guarded by its own token (`METRICS_TOKEN`), for the monitoring system.
        "metrics.metrics",
    }
)
# Reachable while a one-time password is still waiting to be replaced.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"auth.change_password", "auth.logout"})

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

F = TypeVar("F", bound=Callable[..., Any])


def shared(name: str) -> Any:
    """One of the objects the app's runtime built once and installed under `name`
    (`cs_register.runtime`): every package reads them the same way, through a function whose
    return type says what it is, and none builds its own."""
    return current_app.extensions[f"cs_register.{name}"]


def now() -> datetime:
    """The application's clock. Tests replace it to stand at exact retention boundaries."""
    clock: Callable[[], datetime] = current_app.extensions["cs_register.clock"]
    return clock()


def current_settings() -> Settings:
    """The deployment's settings (installed with its runtime by `create_app`)."""
    return shared("settings")


def current_keyring() -> Keyring:
    """The deployment's ciphers: identity codes, corrections, webhook and authenticator
    secrets."""
    return shared("keyring")


def request_id() -> str | None:
    return cast("str | None", g.get("request_id"))


def current_staff() -> StaffPrincipal | None:
    """The logged-in staff member, or None (anonymous or API request).

    The account is loaded by the staff package's login manager (`staff.login`); the request
    plumbing needs only what `StaffPrincipal` promises, so it does not import that package.
    """
    if current_user and current_user.is_authenticated:
        return cast(StaffPrincipal, current_user._get_current_object())
    return None


def require_staff() -> StaffPrincipal:
    staff = current_staff()
    if staff is None:
        raise PermissionDenied("You must be logged in.")
    return staff


def staff_context() -> Context:
    """The unit of work of a console request: the logged-in staff member acting now."""
    return Context(
        session=get_session(),
        actor=Actor.for_staff(require_staff()),
        now=now(),
        request_id=request_id(),
    )


def request_context(actor: Actor) -> Context:
    """The unit of work of a request made by `actor`: an integration on the API, or someone
    not logged in yet (the login form)."""
    return Context(session=get_session(), actor=actor, now=now(), request_id=request_id())


def requires(permission: Permission) -> Callable[[F], F]:
    """View guard: 403 unless the logged-in staff member's role grants `permission`."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not has_permission(current_staff(), permission):
                current_app.logger.warning(
                    "permission denied: %s lacks %s for %s",
                    getattr(current_staff(), "username", "anonymous"),
                    permission.value,
                    request.endpoint,
                )
                raise PermissionDenied("Your role does not allow this page or action.")
            return view(*args, **kwargs)

        wrapper.required_permission = permission  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorator


def background(view: F) -> F:
    """Marks a view the console's scripts call by themselves (the screen pop's poll): such a
    request is not the staff member's activity, so it does not keep an idle session alive."""
    view.background_request = True  # type: ignore[attr-defined]
    return view


def is_background_request() -> bool:
    """Whether the current request is to a view marked with `background`."""
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "background_request", False))


def is_safe_next(target: str | None) -> bool:
    """Only same-site relative paths: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    # Control characters and backslashes are what browsers "repair" into other hosts.
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return False
    try:
        parts = urlsplit(target)
    except ValueError:
        return False
    return not parts.scheme and not parts.netloc


def init_app(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)

    @app.before_request
    def _enforce_login() -> Any:
        endpoint = request.endpoint
        if endpoint in PUBLIC_ENDPOINTS:
            return None
        if request.path.startswith("/api/"):
            # API blueprints authenticate with integration tokens in their own before_request.
            return None
        if endpoint is None:
            # Unknown URL: let the 404 handler answer without revealing anything.
            return None
        staff = current_staff()
        if staff is None:
            target = request.full_path if request.method == "GET" else None
            return redirect(url_for("auth.login", next=target.rstrip("?") if target else None))
        if staff.must_change_password and endpoint not in PASSWORD_CHANGE_ENDPOINTS:
            return redirect(url_for("auth.change_password"))
        return None

    @app.after_request
    def _security_headers(response: Any) -> Any:
        headers = response.headers
        headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        )
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        # Every console page shows personal data; nothing may be cached by browsers or proxies.
        if request.endpoint != "static":
            headers["Cache-Control"] = "no-store"
        if current_app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if g.get("request_id"):
            headers["X-Request-Id"] = g.request_id
        return response

    @app.context_processor
    def _template_helpers() -> dict[str, Any]:
        return {
            "Permission": Permission,
            "can": lambda permission: has_permission(current_staff(), permission),
            "current_staff": current_staff(),
        }

    app.add_template_filter(local_time, "local_time")
