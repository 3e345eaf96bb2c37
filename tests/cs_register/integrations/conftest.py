"""Fixtures for the integration-token tests: tokens made through the real service."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.db import Database
from cs_register.integrations import services
from cs_register.integrations.models import IntegrationToken
from tests.conftest import FrozenClock
from tests.support.context import make_context

# An endpoint of the telephony API that needs nothing but a valid token: an unknown call id
# answers 404 once authenticated, and 401 before.
PROBE_URL = "/api/v1/calls/probe-call-1"


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def make_token(
    database: Database, clock: FrozenClock
) -> Callable[..., tuple[IntegrationToken, str]]:
    """`make_token("pbx-primary")` -> (row, token), created as the CLI would."""

    def _make(name: str = "pbx-test", scope: str = "telephony") -> tuple[IntegrationToken, str]:
        with database.unit_of_work() as session:
            return services.create_token(
                make_context(session, None, clock.now), name=name, scope=scope
            )

    return _make


def stored_token(database: Database, name: str) -> IntegrationToken | None:
    with database.unit_of_work() as session:
        return session.scalar(sa.select(IntegrationToken).where(IntegrationToken.name == name))


def audit_events(database: Database, action: AuditAction) -> list[AuditEvent]:
    with database.unit_of_work() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )
