"""How long the audit trail is kept: the one place the rule is defined.

The trail answers "who saw or changed what" for as long as someone may reasonably ask: the
register keeps it `AUDIT_RETENTION_YEARS` (default 5) calendar years. An event is past its time
at `occurred_at + years`, the boundary instant included (29 February counts from 28 February
in a year without one).

The trail is append-only in the database itself (`cs_register.append_only`). The one
exception: the retention sweep (`cs_register.privacy.data_retention`) may delete events that
a retention receipt covers (category `audit_events`, the event's id in the receipt's id range,
the event older than the receipt's cut-off). It appends that receipt first, in the same
transaction; the database refuses every other delete, and every update.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.audit.models import AuditEvent
from cs_register.clock import require_aware
from cs_register.db import affected_rows, ids_past

DEFAULT_YEARS = 5
CATEGORY = "audit_events"


@dataclass(frozen=True)
class AuditRetention:
    """`years` calendar years after each event (`AUDIT_RETENTION_YEARS`)."""

    years: int = DEFAULT_YEARS

    def __post_init__(self) -> None:
        # Zero would empty the whole trail at the next sweep: refuse it here too, not only in
        # the settings.
        if self.years < 1:
            raise ValueError("the audit trail must be kept at least one year")

    def due_before(self, now: datetime) -> datetime:
        """Events that occurred at or before this instant are past their time at `now`."""
        now = require_aware(now, "now")
        year = now.year - self.years
        try:
            return now.replace(year=year)
        except ValueError:  # 29 February, and the year `years` ago has none
            return now.replace(year=year, day=28)


# Ids of events past their time, in id order after `after_id`.
past_their_time = ids_past(AuditEvent.id, AuditEvent.occurred_at)


def count_due(session: Session, *, due_before: datetime) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.occurred_at <= due_before)
        )
        or 0
    )


def rows_digest(session: Session, event_ids: Sequence[int]) -> str:
    """SHA-256 over the removed events as they were (every column, in id order), so a copy of
    the trail kept elsewhere can be checked against the receipt."""
    rows = session.execute(
        sa.select(
            AuditEvent.id,
            AuditEvent.occurred_at,
            AuditEvent.actor_id,
            AuditEvent.actor_label,
            AuditEvent.action,
            AuditEvent.subject_type,
            AuditEvent.subject_id,
            AuditEvent.request_id,
            AuditEvent.details,
        )
        .where(AuditEvent.id.in_(event_ids))
        .order_by(AuditEvent.id)
    )
    digest = hashlib.sha256()
    for row in rows:
        values = [
            row.id,
            row.occurred_at.isoformat(),
            row.actor_id,
            row.actor_label,
            row.action.value,
            row.subject_type,
            row.subject_id,
            row.request_id,
            row.details,
        ]
        digest.update(json.dumps(values, sort_keys=True, separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def delete_events(session: Session, event_ids: Sequence[int]) -> int:
    """Delete the events; the database lets them go only under a receipt appended first."""
    return affected_rows(session, sa.delete(AuditEvent).where(AuditEvent.id.in_(event_ids)))
