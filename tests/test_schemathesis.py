"""Fuzz the whole API from its own OpenAPI document (Schemathesis), in-process.

Every operation gets valid credentials: the integration token as a bearer header, and, for the
chatbot webhook, a WSGI middleware that signs the exact body bytes the app receives (with the
app clock's timestamp) whenever the generated headers are themselves well-formed. Malformed
webhook headers are left as generated, so they must be refused.

The test fails on any 5xx (the app re-raises unexpected errors in testing), any response that
breaks the document (status, content type, schema) and any accepted invalid input. It is
bounded and deterministic: a fixed number of examples per operation, derandomized.
"""

from __future__ import annotations

import html
import io
import re
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from email.message import EmailMessage as OutgoingMessage
from email.utils import formataddr
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from cs_register.db import Database
from cs_register.integrations import services as token_services
from cs_register.integrations.webhooks import create_webhook_secret
from cs_register.openapi import openapi_document
from tests.cs_register.intake.signing import signature
from tests.support.context import make_context

CHATBOT_PATH = "/api/v1/intake/chatbot"
MARKETING = "/api/v1/marketing/"
MAX_EXAMPLES = 30
WELL_FORMED_TIMESTAMP = re.compile(r"[0-9]{1,12}")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

StartResponse = Callable[..., Any]


@schemathesis.serializer("message/rfc822", "audio/*")
def _raw_bytes(ctx: Any, value: Any) -> bytes:
    # Raw-body media types: send strings as UTF-8 and bytes as they are.
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", errors="surrogatepass")


class SigningMiddleware:
    """Signs chatbot webhooks the way a real sender would, on the exact bytes being sent."""

    def __init__(self, app: Any, *, secret: str, timestamp: Callable[[], int]) -> None:
        self.app = app
        self.secret = secret
        self.timestamp = timestamp

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == CHATBOT_PATH:
            body = environ["wsgi.input"].read()
            environ["wsgi.input"] = io.BytesIO(body)
            webhook_id = environ.get("HTTP_WEBHOOK_ID")
            stamp = environ.get("HTTP_WEBHOOK_TIMESTAMP", "")
            signed = environ.get("HTTP_WEBHOOK_SIGNATURE")
            if webhook_id and signed and WELL_FORMED_TIMESTAMP.fullmatch(stamp):
                now = self.timestamp()
                environ["HTTP_WEBHOOK_TIMESTAMP"] = str(now)
                environ["HTTP_WEBHOOK_SIGNATURE"] = signature(
                    self.secret, body, webhook_id=webhook_id, timestamp=now
                )
        return self.app(environ, start_response)  # type: ignore[no-any-return]


EMAIL_PATH = "/api/v1/intake/email"


@pytest.fixture
def scoped_tokens(database: Database, clock: Any) -> dict[str, str]:
    """Each integration's token answers only its own endpoints: the marketing feed and the
    email intake get tokens of their own scopes (the schema's default is the telephony one)."""
    tokens = {}
    with database.unit_of_work() as session:
        for name, scope in (("fuzz-crm", "marketing"), ("fuzz-relay", "email")):
            _, tokens[scope] = token_services.create_token(
                make_context(session, None, clock.now), name=name, scope=scope
            )
    return tokens


def _scoped_headers(path: str, tokens: dict[str, str]) -> dict[str, str]:
    if path.startswith(MARKETING):
        return {"Authorization": f"Bearer {tokens['marketing']}"}
    if path == EMAIL_PATH:
        return {"Authorization": f"Bearer {tokens['email']}"}
    return {}


@pytest.fixture
def api_schema(app: Flask, database: Database, keyring: Any, clock: Any) -> Any:
    with database.unit_of_work() as session:
        _, token = token_services.create_token(
            make_context(session, None, clock.now), name="fuzzer"
        )
        _, secret = create_webhook_secret(
            make_context(session, None, clock.now), keyring, name="fuzz-bot"
        )
    app.wsgi_app = SigningMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, secret=secret, timestamp=lambda: int(clock.now.timestamp())
    )
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    schema.config.update(headers={"Authorization": f"Bearer {token}"})
    return schema


OPERATIONS = [
    (path, method) for path, item in openapi_document()["paths"].items() for method in item
]


# Schemathesis' own pytest integration (`from_fixture`) does not work with pytest 9, so each
# operation and mode runs as a plain Hypothesis test over the operation's strategy.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_the_api_keeps_its_contract(
    api_schema: Any, scoped_tokens: dict[str, str], path: str, method: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    scoped = _scoped_headers(path, scoped_tokens)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: Any) -> None:
        case.call_and_validate(checks=CHECKS, headers=scoped or None)

    exercise()


# Random strings are almost never a valid email or phone call, so the fuzzing above mostly
# sees 4xx. These strategies build VALID requests from random parts, so the success paths
# (parsing, threading, linking, JSON responses) are fuzzed too: every one must be accepted.

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)
_ONE_LINE = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zl", "Zp"]), max_size=300
)
_NAME = st.text(st.characters(codec="utf-8", categories=["L", "Zs", "Pd"]), max_size=60)


@st.composite
def email_parts(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "name": draw(_NAME).strip(),
        "local": draw(st.from_regex(r"[a-z0-9]{1,10}(?:[._-][a-z0-9]{1,10}){0,2}", fullmatch=True)),
        "subject": draw(_ONE_LINE),
        "message_id": draw(st.none() | st.uuids()),
        "in_reply_to": draw(st.none() | st.uuids()),
        "body": draw(_TEXT),
        "html": draw(st.booleans()),
        "attachment": draw(st.none() | st.tuples(st.binary(max_size=2000), _NAME)),
    }


def build_email(parts: dict[str, Any]) -> bytes:
    # Built outside the strategy: the email package draws MIME boundaries from `random`.
    message = OutgoingMessage()
    message["From"] = formataddr((parts["name"], f"{parts['local']}@example.fi"))
    message["Subject"] = parts["subject"]
    if parts["message_id"] is not None:
        message["Message-ID"] = f"<{parts['message_id']}@mail.example.fi>"
    if parts["in_reply_to"] is not None:
        message["In-Reply-To"] = f"<{parts['in_reply_to']}@mail.example.fi>"
    if parts["html"]:
        markup = f"<html><body><p>{html.escape(parts['body'])}</p></body></html>"
        message.set_content(markup, "html")
    else:
        message.set_content(parts["body"])
    if parts["attachment"] is not None:
        content, filename = parts["attachment"]
        message.add_attachment(
            content, "application", "octet-stream", filename=filename or "liite.bin"
        )
    return message.as_bytes()


_PLAIN = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), max_size=200)


def _valid_cases(operation: Any, clock: Any) -> st.SearchStrategy[Any]:
    if operation.path == "/api/v1/intake/email":
        return email_parts().map(lambda parts: ("message/rfc822", parts))
    if operation.path == CHATBOT_PATH:
        turn = st.fixed_dictionaries(
            {"speaker": st.sampled_from(["customer", "bot", "agent"]), "text": _PLAIN}
        )
        conversations = st.fixed_dictionaries(
            {
                "conversation_id": st.uuids().map(str),
                "started_at": st.just((clock.now - timedelta(hours=1)).isoformat()),
            },
            optional={
                "customer": st.fixed_dictionaries(
                    {},
                    optional={
                        "name": _NAME.map(str.strip),
                        "email": st.sampled_from(["a@example.fi", "b.c@example.com"]),
                        "phone": st.from_regex(r"\+35850[0-9]{7}", fullmatch=True),
                    },
                ),
                "language": st.sampled_from(["fi", "sv", "en", "fi-FI"]),
                "summary": _PLAIN,
                "transcript": st.lists(turn, max_size=5),
                "handover": st.booleans(),
            },
        )
        return conversations.map(lambda body: ("application/json", body))
    calls = st.fixed_dictionaries(
        {
            "external_call_id": st.from_regex(r"[A-Za-z0-9._:@-]{1,128}", fullmatch=True),
            "direction": st.sampled_from(["inbound", "outbound"]),
            "customer_number": st.from_regex(r"\+35840[0-9]{7}", fullmatch=True),
            "started_at": st.just((clock.now - timedelta(minutes=5)).isoformat()),
        }
    )
    return calls.map(lambda body: ("application/json", body))


@pytest.mark.parametrize(
    ("path", "method"),
    [(EMAIL_PATH, "post"), ("/api/v1/calls", "post"), (CHATBOT_PATH, "post")],
)
def test_valid_requests_are_accepted(
    api_schema: Any, scoped_tokens: dict[str, str], clock: Any, path: str, method: str
) -> None:
    operation = api_schema[path][method]

    @given(request=_valid_cases(operation, clock))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(request: tuple[str, Any]) -> None:
        media_type, content = request
        body = build_email(content) if media_type == "message/rfc822" else content
        headers = {**api_schema.config.headers, **_scoped_headers(path, scoped_tokens)}
        if operation.path == CHATBOT_PATH:
            # Placeholders; SigningMiddleware puts in the real timestamp and signature.
            headers.update(
                {
                    "webhook-id": f"msg_{uuid.uuid4().hex}",
                    "webhook-timestamp": "0",
                    "webhook-signature": "v1,placeholder",
                }
            )
        case = operation.Case(body=body, media_type=media_type)
        response = case.call_and_validate(checks=CHECKS, headers=headers)
        assert response.status_code in (200, 201), response.text

    exercise()


def test_an_existing_call_is_fuzzed_too(api_schema: Any, clock: Any) -> None:
    registered = api_schema["/api/v1/calls"]["post"].Case(
        body={
            "external_call_id": "fuzz-call",
            "direction": "inbound",
            "customer_number": "+358401234567",
            "started_at": (clock.now - timedelta(minutes=5)).isoformat(),
        },
        media_type="application/json",
    )
    headers = api_schema.config.headers
    assert registered.call_and_validate(checks=CHECKS, headers=headers).status_code == 201
    fetched = api_schema["/api/v1/calls/{external_call_id}"]["get"].Case(
        path_parameters={"external_call_id": "fuzz-call"}
    )
    assert fetched.call_and_validate(checks=CHECKS, headers=headers).status_code == 200
    upload = api_schema["/api/v1/calls/{external_call_id}/recording"]["put"]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategy = upload.as_strategy(
            generation_mode=mode, path_parameters={"external_call_id": "fuzz-call"}
        )

        @given(case=strategy)
        @settings(
            max_examples=10,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        exercise()
