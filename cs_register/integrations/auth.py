"""Bearer-token authentication for the machine-facing API.

Install with `install_token_auth(blueprint)`: every request to that blueprint must present
`Authorization: Bearer <token>`. A staff login cookie is ignored here, and a failure is always a
401 problem+json with a `WWW-Authenticate: Bearer` challenge, never a redirect to a login page.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from cs_register.db import get_database, get_session
from cs_register.errors import PermissionDenied, Unauthenticated
from cs_register.integrations import services
from cs_register.integrations.models import IntegrationToken, TokenScope
from cs_register.web import now

WRONG_SCOPE_DETAIL = "This token's scope does not cover this endpoint."


def bearer_token_from_header(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; '' if the header is malformed."""
    if header is None or not header.strip():
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        # Present but not a bearer token: reported as invalid, not as missing.
        return ""
    return value.strip()


def require_integration(scope: TokenScope) -> IntegrationToken:
    """Authenticate the request's bearer token, check that its scope is `scope` (403
    otherwise: a marketing token cannot post calls, a telephony token cannot post emails or
    read the marketing feed) and keep it on `g.integration_token`."""
    raw = bearer_token_from_header(request.headers.get("Authorization"))
    if raw == "":
        raise Unauthenticated(services.BAD_CREDENTIALS_DETAIL)
    # Authentication (and its last-used bookkeeping) commits in its own short transaction: a
    # long upload must not hold a lock on the token row, and a use counts even if the request
    # it authenticated fails later.
    with get_database(current_app).unit_of_work() as auth_session:
        authenticated = services.authenticate_token(auth_session, raw=raw, now=now())
        token_id, token_scope = authenticated.id, authenticated.scope
    if token_scope is not scope:
        raise PermissionDenied(WRONG_SCOPE_DETAIL)
    token = get_session().get(IntegrationToken, token_id)
    if token is None:  # revoked and deleted in between: not possible today, but never trust it
        raise Unauthenticated(services.BAD_CREDENTIALS_DETAIL)
    g.integration_token = token
    return token


def current_integration() -> IntegrationToken:
    token: IntegrationToken | None = g.get("integration_token")
    if token is None:
        raise Unauthenticated(services.NO_CREDENTIALS_DETAIL)
    return token


def install_token_auth(blueprint: Blueprint, scope: TokenScope) -> None:
    @blueprint.before_request
    def _authenticate_integration() -> None:
        require_integration(scope)
