"""Privacy requests registered and handled through the console, as staff would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.privacy.models import PrivacyRequest

REQUEST_FORM = {
    "kind": "access",
    "channel": "phone",
    "received_on": "2026-11-23",
    "description": "Wants a copy of everything held about them, including call recordings.",
    "verified": ["name", "identity_code"],
}


@pytest.fixture
def register(client: Any) -> Callable[..., Any]:
    """POST the registration form for `customer` (or for nobody) and return the response."""

    def _register(customer: Any | None = None, **fields: Any) -> Any:
        url = (
            f"/customers/{customer.public_id}/privacy-requests/new"
            if customer is not None
            else "/privacy/requests/new"
        )
        return client.post(url, data={**REQUEST_FORM, **fields})

    return _register


@pytest.fixture
def cases(database: Any) -> Callable[[], list[PrivacyRequest]]:
    def _cases() -> list[PrivacyRequest]:
        with database.session_factory() as session:
            return list(session.scalars(sa.select(PrivacyRequest).order_by(PrivacyRequest.id)))

    return _cases


@pytest.fixture
def privacy_events(database: Any) -> Callable[[], list[AuditEvent]]:
    def _events() -> list[AuditEvent]:
        with database.session_factory() as session:
            return list(
                session.scalars(
                    sa.select(AuditEvent)
                    .where(AuditEvent.action.in_([a for a in AuditAction if "privacy" in a.value]))
                    .order_by(AuditEvent.id)
                )
            )

    return _events
