"""The supervisors' retention overview: three figures about what the retention engine holds
and has done, counted by the database rather than by loading rows.

- recordings by Helsinki calendar days until their purge;
- holds in force against their recording's 12-month cap;
- purges per Helsinki calendar day over the last 30 days, by reason, from the receipt ledger.

Every figure is counts only (no names, no ids), so the page and its chart data carry no
personal data. Days are counted on the retention rules' calendar (`retention.CALENDAR`) from
`ctx.now`, never from the wall clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext, ngettext
from sqlalchemy.orm import Session

from cs_register.clock import local_day_start
from cs_register.context import Context
from cs_register.languages import N_
from cs_register.permissions import Permission, require
from recordings import retention
from recordings.hold_dashboard import in_force
from recordings.models import (
    HoldReason,
    PurgeReason,
    PurgeReceipt,
    Recording,
    RecordingHold,
    RecordingState,
)
from recordings.retention import CALENDAR, RetentionPolicy

# The figures' words are English, marked for the catalogs, and put in the reader's language
# when a figure is built (it is built only for the page, per request).
# (label, first day, last day) in whole calendar days from today; None: no upper end. A
# recording nobody holds is gone within 3 months (92 days at most), so the last one is holds.
DUE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    (N_("Today"), 0, 0),
    (N_("1–7 days"), 1, 7),
    (N_("8–30 days"), 8, 30),
    (N_("31–60 days"), 31, 60),
    (N_("61–92 days"), 61, 92),
    (N_("More than 92 days (held)"), 93, None),
)
# Calendar days between a hold's end and its recording's cap: how much headroom is left.
CAP_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    (N_("At the cap"), 0, 0),
    (N_("1–30 days short"), 1, 30),
    (N_("31–90 days short"), 31, 90),
    (N_("91–180 days short"), 91, 180),
    (N_("More than 180 days short"), 181, None),
)
PURGE_DAYS = 30
PURGE_REASON_LABELS = {
    PurgeReason.RETENTION_EXPIRED: N_("Retention ended"),
    PurgeReason.HOLD_CAP_REACHED: N_("Hold cap reached"),
    PurgeReason.ERASURE_REQUEST: N_("Erasure request"),
    PurgeReason.ORPHAN_FILE: N_("Orphan file"),
}


@dataclass(frozen=True)
class Series:
    label: str
    values: list[int]


@dataclass(frozen=True)
class Figure:
    """One chart and its table: a count per label for each series."""

    key: str
    title: str
    axis: str
    labels: list[str]
    series: list[Series]

    @property
    def total(self) -> int:
        return sum(sum(series.values) for series in self.series)

    def rows(self) -> list[tuple[str, list[int], int]]:
        """The table: one row per label, a cell per series, and the row's total."""
        rows = []
        for index, label in enumerate(self.labels):
            cells = [series.values[index] for series in self.series]
            rows.append((label, cells, sum(cells)))
        return rows

    def chart(self) -> dict[str, Any]:
        """The figure as Chart.js data (`static/charts.js` draws it)."""
        return {
            "labels": self.labels,
            "datasets": [{"label": s.label, "data": s.values} for s in self.series],
        }


@dataclass(frozen=True)
class RetentionOverview:
    due: Figure
    cap: Figure
    purges: Figure
    first_purge_day: date
    today: date


def _day_start(day: date) -> datetime:
    # Stored instants are UTC; comparing with a UTC boundary keeps every dialect exact.
    return local_day_start(day).astimezone(UTC)


def _bucket_of(days: int, buckets: Sequence[tuple[str, int, int | None]]) -> int:
    for index, (_label, first, last) in enumerate(buckets):
        if days >= first and (last is None or days <= last):
            return index
    return 0  # before the first bucket cannot happen for rows the queries select


def recordings_by_days_until_purge(session: Session, *, now: datetime) -> Figure:
    """Recordings still here and not yet due, by calendar days until their `due_at`: one
    grouped COUNT, the bucket decided by a CASE over the day boundaries."""
    today = now.astimezone(CALENDAR).date()
    whens = [
        (Recording.due_at < _day_start(today + timedelta(days=last + 1)), index)
        for index, (_label, _first, last) in enumerate(DUE_BUCKETS)
        if last is not None
    ]
    bucket = sa.case(*whens, else_=len(DUE_BUCKETS) - 1).label("bucket")
    counts: dict[int, int] = {
        index: count
        for index, count in session.execute(
            sa.select(bucket, sa.func.count())
            .where(Recording.state == RecordingState.ACTIVE, Recording.due_at > now)
            .group_by(bucket)
        )
    }
    return Figure(
        key="due",
        title=gettext("Recordings by days until deletion"),
        axis=gettext("Deleted in"),
        labels=[gettext(label) for label, _first, _last in DUE_BUCKETS],
        series=[Series(gettext("Recordings"), [counts.get(i, 0) for i in range(len(DUE_BUCKETS))])],
    )


def holds_against_cap(session: Session, *, now: datetime, policy: RetentionPolicy) -> Figure:
    """Holds in force by how far their end falls short of the recording's 12-month cap, per
    reason. The database selects only the holds in force and two instants of each; the cap is
    a Helsinki calendar-month sum (`retention.hold_cap`), which no portable SQL can do, and
    holds in force are a supervisor's handful, not the whole register."""
    reasons = list(HoldReason)
    counts = {reason: [0] * len(CAP_BUCKETS) for reason in reasons}
    rows = session.execute(
        sa.select(RecordingHold.reason, RecordingHold.ends_at, Recording.recorded_at)
        .join(Recording, RecordingHold.recording_id == Recording.id)
        .where(*in_force(now))
    )
    for reason, ends_at, recorded_at in rows:
        cap = retention.hold_cap(recorded_at, policy)
        short = (cap.astimezone(CALENDAR).date() - ends_at.astimezone(CALENDAR).date()).days
        counts[reason][_bucket_of(max(short, 0), CAP_BUCKETS)] += 1
    return Figure(
        key="cap",
        title=gettext("Holds against the 12-month cap"),
        axis=gettext("Hold ends"),
        labels=[gettext(label) for label, _first, _last in CAP_BUCKETS],
        series=[Series(gettext(reason.label), counts[reason]) for reason in reasons],
    )


def purges_per_day(
    session: Session, *, now: datetime, days: int = PURGE_DAYS
) -> tuple[Figure, date]:
    """Receipts per Helsinki calendar day over the last `days` days (today included), per
    reason: one grouped COUNT over the ledger's `purged_at` index, the day decided by a CASE
    over the midnights, so daylight-saving days are counted whole."""
    today = now.astimezone(CALENDAR).date()
    first = today - timedelta(days=days - 1)
    whens = [
        (PurgeReceipt.purged_at < _day_start(first + timedelta(days=index + 1)), index)
        for index in range(days - 1)
    ]
    day = sa.case(*whens, else_=days - 1).label("day")
    counts: dict[tuple[int, PurgeReason], int] = {
        (index, reason): count
        for index, reason, count in session.execute(
            sa.select(day, PurgeReceipt.reason, sa.func.count())
            .where(
                PurgeReceipt.purged_at >= _day_start(first),
                PurgeReceipt.purged_at < _day_start(today + timedelta(days=1)),
            )
            .group_by(day, PurgeReceipt.reason)
        )
    }
    figure = Figure(
        key="purges",
        title=ngettext(
            "Purges per day, last %(num)d day", "Purges per day, last %(num)d days", days
        ),
        axis=gettext("Day"),
        labels=[f"{first + timedelta(days=index):%d.%m.}" for index in range(days)],
        series=[
            Series(gettext(label), [counts.get((index, reason), 0) for index in range(days)])
            for reason, label in PURGE_REASON_LABELS.items()
        ],
    )
    return figure, first


def retention_overview(ctx: Context, *, policy: RetentionPolicy) -> RetentionOverview:
    """The overview page's three figures, for supervisors."""
    require(ctx.actor, Permission.MANAGE_HOLDS)
    session, now = ctx.session, ctx.now
    purges, first = purges_per_day(session, now=now)
    return RetentionOverview(
        due=recordings_by_days_until_purge(session, now=now),
        cap=holds_against_cap(session, now=now, policy=policy),
        purges=purges,
        first_purge_day=first,
        today=now.astimezone(CALENDAR).date(),
    )
