"""Rolling the register up into daily counts, before the data behind them leaves.

The per-tick retention job calls `roll_up` before it sweeps, so a day is counted while its
contacts (kept 180 days) and recordings (3 months) are still there; the counts then outlive
them. Each finished Helsinki day is rolled up once, and the `REFRESH_DAYS` before the latest
again on each run, so what arrives a little late (a call reported after midnight, a privacy request
registered with an earlier received date) is still counted. A day is counted in one
transaction: its rows are replaced, and its mark set, together.

Purges are counted from the purge receipts, which are kept for good; everything else from
the live rows, which is why older days are never recounted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.clock import local_day_start, local_today
from cs_register.contacts.models import Contact, IdentityVerification
from cs_register.db import Database
from cs_register.intake.models import ChatbotConversation
from cs_register.privacy.models import PrivacyRequest
from cs_register.statistics.models import DailyCount, RolledUpDay
from recordings.models import PurgeReceipt, Recording, RecordingHold

REFRESH_DAYS = 2
# A first run on an old register counts at most this far back.
FIRST_RUN_DAYS = 400

CONTACTS = "contacts"
VERIFICATIONS = "verifications"
CHATBOT = "chatbot_conversations"
RECORDINGS_STORED = "recordings_stored"
HOLDS_PLACED = "holds_placed"
RECORDINGS_HELD = "recordings_held"
RECORDINGS_PURGED = "recordings_purged"
REQUESTS_RECEIVED = "privacy_requests_received"
REQUESTS_ANSWERED = "privacy_requests_answered"


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "handed_over" if value else "bot_only"
    return str(getattr(value, "value", value))


def _grouped(session: Session, column: Any, key: Any, start: datetime, end: datetime) -> Any:
    return session.execute(
        sa.select(key, sa.func.count()).where(column >= start, column < end).group_by(key)
    )


def count_day(session: Session, day: date) -> list[DailyCount]:
    """Every count of one Helsinki day, from the rows as they are now."""
    start, end = local_day_start(day), local_day_start(day + timedelta(days=1))
    counts: list[DailyCount] = []

    def add(metric: str, rows: Iterable[Any]) -> None:
        for dimension, count in rows:
            counts.append(
                DailyCount(day=day, metric=metric, dimension=_value(dimension), count=count)
            )

    add(CONTACTS, _grouped(session, Contact.occurred_at, Contact.channel, start, end))
    add(
        VERIFICATIONS,
        _grouped(
            session, IdentityVerification.verified_at, IdentityVerification.outcome, start, end
        ),
    )
    add(
        CHATBOT,
        _grouped(
            session, ChatbotConversation.received_at, ChatbotConversation.needs_handover, start, end
        ),
    )
    stored = session.scalar(
        sa.select(sa.func.count()).where(
            Recording.uploaded_at >= start, Recording.uploaded_at < end
        )
    )
    add(RECORDINGS_STORED, [("", stored)] if stored else [])
    add(HOLDS_PLACED, _grouped(session, RecordingHold.placed_at, RecordingHold.reason, start, end))
    # Recordings under a hold as the day ended, by the hold's reason.
    held_at_end = (
        sa.select(RecordingHold.reason, sa.func.count(sa.distinct(RecordingHold.recording_id)))
        .where(
            RecordingHold.placed_at < end,
            RecordingHold.ends_at > end,
            sa.or_(RecordingHold.released_at.is_(None), RecordingHold.released_at > end),
        )
        .group_by(RecordingHold.reason)
    )
    add(RECORDINGS_HELD, session.execute(held_at_end))
    add(
        RECORDINGS_PURGED,
        _grouped(session, PurgeReceipt.purged_at, PurgeReceipt.reason, start, end),
    )
    add(
        REQUESTS_RECEIVED,
        session.execute(
            sa.select(PrivacyRequest.kind, sa.func.count())
            .where(PrivacyRequest.received_on == day)
            .group_by(PrivacyRequest.kind)
        ),
    )
    answered = session.execute(
        sa.select(PrivacyRequest.kind, PrivacyRequest.received_on).where(
            PrivacyRequest.closed_at >= start, PrivacyRequest.closed_at < end
        )
    )
    by_kind: dict[str, list[int]] = {}
    for kind, received_on in answered:
        by_kind.setdefault(_value(kind), []).append((day - received_on).days)
    for dimension, days in sorted(by_kind.items()):
        counts.append(
            DailyCount(
                day=day,
                metric=REQUESTS_ANSWERED,
                dimension=dimension,
                count=len(days),
                total=sum(days),
            )
        )
    return [count for count in counts if count.count]


def _days_to_count(session: Session, today: date) -> list[date]:
    yesterday = today - timedelta(days=1)
    last = session.scalar(sa.select(sa.func.max(RolledUpDay.day)))
    if last is None:
        first_contact = session.scalar(sa.select(sa.func.min(Contact.occurred_at)))
        first = local_today(first_contact) if first_contact is not None else yesterday
        first = max(first, today - timedelta(days=FIRST_RUN_DAYS))
    else:
        first = min(last + timedelta(days=1), yesterday - timedelta(days=REFRESH_DAYS))
    return [first + timedelta(days=n) for n in range((yesterday - first).days + 1)]


# Arbitrary constant key of the PostgreSQL advisory lock that lets one roll-up count a day at
# a time: two sweeps at once must not both insert a day's rows (SQLite has one writer anyway).
ROLLUP_LOCK_KEY = 0x5354_4154  # "STAT"


def _take_rollup_lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROLLUP_LOCK_KEY})


def roll_up(database: Database, *, now: datetime) -> int:
    """Count every finished day not yet counted, and the last few again; how many days."""
    with database.read_only() as session:
        days = _days_to_count(session, local_today(now))
    for day in days:
        with database.unit_of_work() as session:
            _take_rollup_lock(session)
            counts = count_day(session, day)
            session.execute(sa.delete(DailyCount).where(DailyCount.day == day))
            session.add_all(counts)
            mark = session.get(RolledUpDay, day)
            if mark is None:
                session.add(RolledUpDay(day=day, rolled_up_at=now))
            else:
                mark.rolled_up_at = now
    return len(days)
