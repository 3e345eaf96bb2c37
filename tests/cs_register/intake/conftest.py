"""Fixtures for the chatbot intake tests: webhook secrets and a signed-delivery helper."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cs_register.contacts.models import Contact
from cs_register.crypto import Keyring
from cs_register.db import Database
from cs_register.integrations import webhooks
from cs_register.integrations.models import WebhookSecret
from tests.conftest import FrozenClock
from tests.cs_register.intake.signing import sign
from tests.support.context import make_context

CHATBOT_URL = "/api/v1/intake/chatbot"


def conversation(**overrides: Any) -> dict[str, Any]:
    """A valid payload; override or add fields per test."""
    payload: dict[str, Any] = {
        "conversation_id": f"conv-{uuid.uuid4()}",
        "started_at": "2026-11-23T10:30:00+02:00",
        "ended_at": "2026-11-23T10:41:00+02:00",
        "customer": {"name": "Maija Virtanen"},
        "language": "fi",
        "summary": "Asks about an invoice.",
        "transcript": [
            {"speaker": "customer", "text": "Hei, laskussani on virhe."},
            {"speaker": "bot", "text": "Kerro laskun numero, niin katson."},
        ],
        "handover": False,
    }
    payload.update(overrides)
    return payload


def count_rows(database: Database, model: Any) -> int:
    with database.unit_of_work() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def contacts(database: Database) -> list[Contact]:
    with database.unit_of_work() as session:
        return list(session.scalars(sa.select(Contact).order_by(Contact.id)))


@pytest.fixture
def make_secret(
    database: Database, keyring: Keyring, clock: FrozenClock
) -> Callable[..., tuple[WebhookSecret, str]]:
    """`make_secret("chatbot")` -> (row, "whsec_..."), created as the CLI would."""

    def _make(name: str = "chatbot") -> tuple[WebhookSecret, str]:
        with database.unit_of_work() as session:
            return webhooks.create_webhook_secret(
                make_context(session, None, clock.now), keyring, name=name
            )

    return _make


@pytest.fixture
def secret(make_secret: Callable[..., tuple[WebhookSecret, str]]) -> str:
    return make_secret()[1]


PostChatbot = Callable[..., TestResponse]


@pytest.fixture
def post_chatbot(client: FlaskClient, clock: FrozenClock) -> PostChatbot:
    """POST a delivery signed with `secret` (JSON-encoded unless `body` is bytes)."""

    def _post(
        body: Any,
        *,
        secret: str,
        webhook_id: str | None = None,
        timestamp: int | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> TestResponse:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        signed = sign(
            secret,
            raw,
            webhook_id=webhook_id or f"msg_{uuid.uuid4().hex}",
            timestamp=timestamp if timestamp is not None else int(clock.now.timestamp()),
        )
        return client.post(
            CHATBOT_URL,
            data=raw,
            headers={"Content-Type": content_type, **signed, **(headers or {})},
        )

    return _post
