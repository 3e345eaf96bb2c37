"""The invariant monitor: is the retention promise actually being kept?

Two violations are looked for among recordings whose audio is still stored:

- "overdue": due for longer than two sweep intervals (the purge is not keeping up);
- "past_cap": stored past its 12-month cap at all (the promise to customers is broken).

Both are found through the (state, due_at) index: a recording past its cap is also past its
due time, so only due rows are read, and there are few of them while the purge keeps up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from recordings import retention
from recordings.models import Recording, RecordingState
from recordings.retention import RetentionPolicy

log = logging.getLogger(__name__)

STORED_STATES = (RecordingState.ACTIVE, RecordingState.PURGING)
OVERDUE = "overdue"
PAST_CAP = "past_cap"
# Ids named in one log line; the count says how many there are in all.
LOGGED_IDS = 20


@dataclass(frozen=True)
class InvariantViolation:
    recording_id: int
    recording_public_id: str
    kind: str  # OVERDUE or PAST_CAP (a recording past its cap is reported as that)
    due_at: datetime


def check_invariants(
    session: Session,
    *,
    now: datetime,
    policy: RetentionPolicy,
    sweep_interval: timedelta,
    log_errors: bool = True,
) -> list[InvariantViolation]:
    """Every stored recording that breaks the retention promise; logs an ERROR (ids only)."""
    overdue_before = now - 2 * sweep_interval
    violations: list[InvariantViolation] = []
    rows = session.execute(
        sa.select(Recording.id, Recording.public_id, Recording.recorded_at, Recording.due_at)
        .where(Recording.state.in_(STORED_STATES), Recording.due_at <= now)
        .order_by(Recording.due_at, Recording.id)
    )
    for recording_id, public_id, recorded_at, due_at in rows:
        if retention.hold_cap(recorded_at, policy) < now:
            violations.append(InvariantViolation(recording_id, public_id, PAST_CAP, due_at))
        elif due_at < overdue_before:
            violations.append(InvariantViolation(recording_id, public_id, OVERDUE, due_at))
    if violations and log_errors:
        log.error(
            "retention invariant violated: %d recordings still stored past their due time"
            " (%d past the cap); first ids: %s",
            len(violations),
            sum(1 for violation in violations if violation.kind == PAST_CAP),
            ", ".join(violation.recording_public_id for violation in violations[:LOGGED_IDS]),
        )
    return violations
