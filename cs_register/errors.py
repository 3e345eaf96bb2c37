"""Domain errors, and the one place where errors become HTTP responses.

Services raise these; they never call `abort()`. The handlers registered by `init_app` turn
them (and every werkzeug HTTP error) into:
- RFC 9457 problem details (`application/problem+json`) under `/api/`, with a per-field
  `errors` map for validation failures;
- a console error page in the console's look everywhere else.

Messages are written for the person reading them and never echo personal data back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from flask import Flask, Response, g, jsonify, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from cs_register.db import mark_request_failed
from cs_register.languages import N_, Message

log = logging.getLogger(__name__)


class DomainError(Exception):
    """Base of every error a service may raise on purpose.

    A kind of error names its HTTP status and its title in its class statement
    (`class NotFound(DomainError, status=404, title=N_("Not found"))`).
    """

    status: ClassVar[int] = 400
    title: ClassVar[str] = N_("Bad request")

    def __init_subclass__(cls, *, status: int | None = None, title: str | None = None) -> None:
        super().__init_subclass__()
        if status is not None:
            cls.status = status
        if title is not None:
            cls.title = title

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ValidationFailed(DomainError, status=422, title=N_("Validation failed")):
    """Input was rejected; `errors` maps each field to what was wrong with it."""

    def __init__(self, errors: Mapping[str, list[str] | str], detail: str | None = None) -> None:
        self.errors: dict[str, list[str]] = {
            name: [messages] if isinstance(messages, str) else list(messages)
            for name, messages in errors.items()
        }
        super().__init__(detail or N_("Some fields were not accepted; see errors."))


class NotFound(DomainError, status=404, title=N_("Not found")):
    pass


class PermissionDenied(DomainError, status=403, title=N_("Forbidden")):
    pass


class Conflict(DomainError, status=409, title=N_("Conflict")):
    pass


class Gone(DomainError, status=410, title=N_("Gone")):
    pass


class Unauthenticated(DomainError, status=401, title=N_("Unauthorized")):
    """An API client presented no valid credentials (sent with a WWW-Authenticate challenge).

    `challenge` names the scheme the route expects: a bearer token, or for the signed chatbot
    webhook the signature scheme (HTTP requires some challenge on every 401).
    """

    def __init__(self, detail: str, *, challenge: str = "Bearer") -> None:
        super().__init__(detail)
        self.challenge = challenge


class PayloadTooLarge(DomainError, status=413, title=N_("Payload too large")):
    pass


class UnsupportedMediaType(DomainError, status=415, title=N_("Unsupported media type")):
    pass


# Werkzeug's names and descriptions of the HTTP errors people meet, marked for the catalogs so
# that `translated` finds them (any other is shown as Werkzeug writes it).
_HTTP_ERROR_TEXTS = (
    N_("Bad Request"),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Request Entity Too Large"),
    N_("Unsupported Media Type"),
    N_("Range Not Satisfiable"),
    N_("Too Many Requests"),
    N_(
        "The requested URL was not found on the server. If you entered the URL manually"
        " please check your spelling and try again."
    ),
    N_("The method is not allowed for the requested URL."),
)


def translated(message: str) -> str:
    """`message` in the reader's language, if the catalogs have it (messages are marked for
    them where they are written: `N_`, or the error classes named in the Makefile's
    BABEL_KEYWORDS); a message they lack is shown as written."""
    if isinstance(message, Message):
        # Values that are themselves messages (a field's label) are read in the same language.
        values = {
            name: translated(value) if isinstance(value, str) else value
            for name, value in message.values.items()
        }
        return gettext(message.template) % values if values else gettext(message.template)
    # gettext("") would answer with the catalog's header.
    return gettext(message) if message else message


def wants_problem_json() -> bool:
    return request.path.startswith("/api/")


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "request_id": g.get("request_id"),
    }
    if errors:
        body["errors"] = dict(errors)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _html_error(status: int, title: str, detail: str) -> tuple[str, int]:
    return render_template("errors/error.html", status=status, title=title, detail=detail), status


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> Any:
        mark_request_failed()
        title, detail = translated(error.title), translated(error.detail)
        if wants_problem_json():
            errors = (
                {name: [translated(m) for m in ms] for name, ms in error.errors.items()}
                if isinstance(error, ValidationFailed)
                else None
            )
            headers = (
                {"WWW-Authenticate": error.challenge}
                if isinstance(error, Unauthenticated)
                else None
            )
            return problem_response(error.status, title, detail, errors=errors, headers=headers)
        return _html_error(error.status, title, detail)

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError) -> Any:
        mark_request_failed()
        detail = gettext(
            "The form had expired or was not sent from this site. Reload the page and retry."
        )
        if wants_problem_json():
            return problem_response(400, gettext("Bad request"), detail)
        return _html_error(400, gettext("Form expired"), detail)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        mark_request_failed()
        status = error.code or 500
        title = translated(error.name)
        # Werkzeug's default descriptions are fine to show; they never contain request data.
        detail = translated(error.description or error.name)
        headers: dict[str, str] = {}
        valid_methods = getattr(error, "valid_methods", None)
        if status == 405 and valid_methods:
            headers["Allow"] = ", ".join(valid_methods)
        if wants_problem_json():
            return problem_response(status, title, detail, headers=headers)
        body, code = _html_error(status, title, detail)
        return body, code, headers

    @app.errorhandler(Exception)
    def _unexpected_error(error: Exception) -> Any:
        mark_request_failed()
        if app.testing and app.config.get("PROPAGATE_UNEXPECTED", True):
            # Tests must fail loudly on bugs rather than read a polite 500 page.
            raise error
        # The traceback goes to the server log only; never to the user.
        log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        server_error = InternalServerError()
        detail = gettext(
            "Something went wrong on our side. The error was logged with reference %(ref)s.",
            ref=g.get("request_id", "-"),
        )
        if wants_problem_json():
            return problem_response(500, server_error.name, detail)
        return _html_error(500, gettext("Internal server error"), detail)
