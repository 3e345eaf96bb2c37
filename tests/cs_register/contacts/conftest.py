"""Fixtures for the contacts tests: staff bound to the test session and a valid contact form.
Helpers that read back what was written live in support.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cs_register.staff.models import StaffUser


@pytest.fixture
def actor_in(db_session: Session, make_staff: Callable[..., StaffUser]) -> Callable[..., StaffUser]:
    """`actor_in("agent")`: a new staff member loaded into `db_session`, ready for services."""

    def _make(role: str = "agent", **kwargs: Any) -> StaffUser:
        user = make_staff(role, **kwargs)
        loaded = db_session.get(StaffUser, user.id)
        assert loaded is not None
        return loaded

    return _make


@pytest.fixture
def agent(actor_in: Callable[..., StaffUser]) -> StaffUser:
    return actor_in("agent", username="anna.agent")


@pytest.fixture
def contact_form() -> Callable[..., dict[str, str]]:
    """A valid new-contact form; keyword arguments override or add fields."""

    def _form(**overrides: str) -> dict[str, str]:
        form = {
            "channel": "phone",
            "direction": "inbound",
            "occurred_at": "",
            "subject": "Invoice question",
            "notes": "Asked about the November invoice.",
            "verification_outcome": "not_attempted",
        }
        form.update(overrides)
        return form

    return _form
