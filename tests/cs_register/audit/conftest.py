"""Fixtures for the audit trail's pages: events written as a service would write them, and
the page's table read back."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from cs_register import audit
from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.context import Context
from cs_register.permissions import Actor
from cs_register.staff.models import StaffUser


@pytest.fixture
def add_event(database: Any, clock: Any) -> Callable[..., int]:
    """Write one audit row, as a service would; `actor` a staff row, or an `Actor`."""

    def _add(
        action: AuditAction = AuditAction.CUSTOMER_VIEWED,
        *,
        actor: Any = None,
        when: Any = None,
        **fields: Any,
    ) -> int:
        with database.unit_of_work() as session:
            if isinstance(actor, Actor):
                who = actor
            elif actor is not None:
                who = Actor.for_staff(session.get(StaffUser, actor.id))
            else:
                who = Actor.for_job(None)
            ctx = Context(session, who, when or clock.now, request_id=fields.get("request_id"))
            subject = (fields.get("subject_type"), fields.get("subject_id"))
            return audit.record(ctx, action, subject, fields.get("details"))

    return _add


def audit_rows(db_session: Any, action: AuditAction) -> list[AuditEvent]:
    return list(
        db_session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()
    )


def event_rows(html: str) -> list[str]:
    """The table rows of the events table, as raw HTML snippets."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def link(html: str, rel: str) -> str | None:
    """The href of the paging link `rel` ("next": older, "prev": newer), unescaped."""
    found = re.search(rf'href="([^"]+)" rel="{rel}"', html)
    return found.group(1).replace("&amp;", "&") if found else None
