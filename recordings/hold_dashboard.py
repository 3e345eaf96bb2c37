"""What the supervisors' holds dashboard reads: the holds in force, with who and what each
recording is about, filtered by reason and by how soon the hold ends, a page at a time.

Services take a `Context` and check `MANAGE_HOLDS`; the page's words are the template's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from cs_register.context import Context
from cs_register.permissions import Permission, require
from cs_register.staff.models import StaffUser
from recordings import access
from recordings.listing import RecordingContext, recording_contexts
from recordings.models import HoldReason, Recording, RecordingHold, RecordingState
from recordings.retention import CALENDAR, RetentionPolicy
from recordings.services import retention_status

# "Ending within N days" reaches a year and a day: no hold outlasts the 12-month cap.
MAX_ENDING_WITHIN_DAYS = 366
# The "ending soon" section is a warning, not a list to page through; this bounds its query.
MAX_ENDING_SOON = 200


def calendar_days_until(instant: datetime, current: datetime) -> int:
    """Whole Helsinki calendar days from today to the day of `instant` (0 = today)."""
    return (instant.astimezone(CALENDAR).date() - current.astimezone(CALENDAR).date()).days


@dataclass(frozen=True)
class HoldRow:
    hold: RecordingHold
    recording: Recording
    context: RecordingContext
    placed_by: str
    cap: datetime
    days_to_end: int
    days_to_cap: int


@dataclass(frozen=True)
class HoldPage:
    rows: list[HoldRow]
    # Public id of the last hold read when more follow; the next page starts after it.
    next_after: str | None


def in_force(now: datetime) -> list[sa.ColumnElement[bool]]:
    """A hold neither released nor ended, on a recording that still exists and is not due."""
    return [
        RecordingHold.released_at.is_(None),
        RecordingHold.ends_at > now,
        Recording.state == RecordingState.ACTIVE,
        Recording.due_at > now,
    ]


def _filtered(
    ctx: Context, reason: HoldReason | None, ending_within_days: int | None
) -> sa.Select[RecordingHold]:
    now = ctx.now
    query = (
        sa.select(RecordingHold)
        .join(Recording, RecordingHold.recording_id == Recording.id)
        .where(*in_force(now), access.listed_for(ctx.actor))
    )
    if reason is not None:
        query = query.where(RecordingHold.reason == reason)
    if ending_within_days is not None:
        query = query.where(RecordingHold.ends_at <= now + timedelta(days=ending_within_days))
    return query


def count_holds(
    ctx: Context, *, reason: HoldReason | None = None, ending_within_days: int | None = None
) -> int:
    """How many holds the filters match, counted by the database (the page shows one slice)."""
    require(ctx.actor, Permission.MANAGE_HOLDS)
    matching = _filtered(ctx, reason, ending_within_days).subquery()
    return ctx.session.scalar(sa.select(sa.func.count()).select_from(matching)) or 0


def list_holds(
    ctx: Context,
    *,
    policy: RetentionPolicy,
    reason: HoldReason | None = None,
    ending_within_days: int | None = None,
    after: str | None = None,
    limit: int = 50,
) -> HoldPage:
    """Holds in force, the soonest to end first, keyset-paginated on (ends_at, id); `after` is
    the public id of the previous page's last hold, so links carry no counters and a hold
    placed meanwhile neither repeats a row nor hides one."""
    session = ctx.session
    require(ctx.actor, Permission.MANAGE_HOLDS)
    query = (
        _filtered(ctx, reason, ending_within_days)
        .order_by(RecordingHold.ends_at, RecordingHold.id)
        .options(selectinload(RecordingHold.recording).selectinload(Recording.holds))
        .limit(limit + 1)
    )
    cursor = (
        session.scalar(sa.select(RecordingHold).where(RecordingHold.public_id == after))
        if after
        else None
    )
    if cursor is not None:
        query = query.where(
            sa.or_(
                RecordingHold.ends_at > cursor.ends_at,
                sa.and_(RecordingHold.ends_at == cursor.ends_at, RecordingHold.id > cursor.id),
            )
        )
    fetched = list(session.scalars(query))
    page = fetched[:limit]
    # The cursor is the last hold read, not the last shown: a row the rules module drops
    # below must not make the next page start before it (a repeat) or lose the link.
    next_after = page[-1].public_id if len(fetched) > limit else None
    return HoldPage(rows=_rows(ctx, page, policy), next_after=next_after)


def holds_ending_soon(
    ctx: Context, *, policy: RetentionPolicy, days: int, reason: HoldReason | None = None
) -> list[HoldRow]:
    """The holds ending within `days`, soonest first (at most MAX_ENDING_SOON of them)."""
    return list_holds(
        ctx, policy=policy, reason=reason, ending_within_days=days, limit=MAX_ENDING_SOON
    ).rows


def _rows(ctx: Context, page: list[RecordingHold], policy: RetentionPolicy) -> list[HoldRow]:
    session, now = ctx.session, ctx.now
    recordings = [hold.recording for hold in page]
    contexts = recording_contexts(session, recordings)
    names: dict[int, str] = {
        staff_id: name
        for staff_id, name in session.execute(
            sa.select(StaffUser.id, StaffUser.display_name).where(
                StaffUser.id.in_({hold.placed_by_id for hold in page})
            )
        )
    }
    rows = []
    for hold in page:
        # The query already asks what the rules say; the rules module stays the last word.
        status = retention_status(hold.recording, now=now, policy=policy)
        if not status.servable:
            continue
        rows.append(
            HoldRow(
                hold=hold,
                recording=hold.recording,
                context=contexts[hold.recording.id],
                placed_by=names.get(hold.placed_by_id, "unknown"),
                cap=status.cap,
                days_to_end=calendar_days_until(hold.ends_at, now),
                days_to_cap=calendar_days_until(status.cap, now),
            )
        )
    return rows
