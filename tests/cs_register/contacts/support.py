"""Helpers for reading what the contacts code wrote."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.contacts.models import Contact


def audit_events(session: Session, action: AuditAction | None = None) -> list[AuditEvent]:
    query = sa.select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query))


def count_contacts(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(Contact)) or 0)
