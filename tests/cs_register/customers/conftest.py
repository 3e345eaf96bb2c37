"""Fixtures for the customers tests: calling services as a given staff member, valid codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cs_register.staff.models import StaffUser
from tests.support.context import make_context

CHECK_CHARACTERS = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def identity_code(ddmmyy: str, sign: str, individual: str) -> str:
    """A valid code with its mod-31 check character."""
    return f"{ddmmyy}{sign}{individual}{CHECK_CHARACTERS[int(ddmmyy + individual) % 31]}"


@pytest.fixture
def agent(make_staff: Callable[..., StaffUser]) -> StaffUser:
    return make_staff("agent", username="service-agent")


@pytest.fixture
def call(database: Any, keyring: Any, clock: Any, agent: StaffUser) -> Callable[..., Any]:
    """`call(services.view_customer, public_id=...)` runs one service in its own committed
    unit of work, as `as_user` (default: an agent), with the keyring and the test clock."""

    def _call(service: Callable[..., Any], *, as_user: StaffUser | None = None, **kwargs: Any):
        user = as_user or agent
        with database.unit_of_work() as session:
            actor = session.get(StaffUser, user.id)
            ctx = make_context(session, actor, clock.now, request_id="req-test-0001")
            return service(ctx, keyring, **kwargs)

    return _call
