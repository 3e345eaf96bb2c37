"""The statistics page's figures: daily counts summed per day or ISO week, small cells hidden.

Everything shown passes through `cs_register.statistics.disclosure`; nothing here reads the
register itself, only the daily counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.languages import N_
from cs_register.statistics import disclosure, rollup
from cs_register.statistics.models import DailyCount

# Titles and series labels are English, marked for the catalogs: the page shows them
# `|translated`; the CSV names metrics and dimensions by their data values instead.
TITLES = {
    rollup.CONTACTS: N_("Contacts per channel"),
    rollup.VERIFICATIONS: N_("Identity verification outcomes"),
    rollup.CHATBOT: N_("Chatbot conversations: handed over to a person or not"),
    rollup.RECORDINGS_STORED: N_("Recordings stored"),
    rollup.HOLDS_PLACED: N_("Holds placed, by reason"),
    rollup.RECORDINGS_HELD: N_("Recordings under a hold at the end of the day, by reason"),
    rollup.RECORDINGS_PURGED: N_("Recordings purged, by reason"),
    rollup.REQUESTS_RECEIVED: N_("Privacy requests received, by type"),
    rollup.REQUESTS_ANSWERED: N_("Privacy requests answered, by type"),
}
# The dimensions the roll-up counts by (channels, outcomes, hold and purge reasons, request
# types), as a series is labelled; any other shows as its words.
_DIMENSION_LABELS = {
    "": N_("All"),
    "email": N_("Email"),
    "phone": N_("Phone"),
    "chatbot": N_("Chatbot"),
    "verified": N_("Verified"),
    "failed": N_("Failed"),
    "not_attempted": N_("Not attempted"),
    "handed_over": N_("Handed over"),
    "bot_only": N_("Bot only"),
    "quality_development": N_("Quality development"),
    "complaint": N_("Complaint"),
    "retention_expired": N_("Retention expired"),
    "hold_cap_reached": N_("Hold cap reached"),
    "orphan_file": N_("Orphan file"),
    "erasure_request": N_("Erasure request"),
    "access": N_("Access"),
    "portability": N_("Portability"),
    "rectification": N_("Rectification"),
    "erasure": N_("Erasure"),
    "restriction": N_("Restriction"),
    "objection": N_("Objection"),
}
PERIODS = ("day", "week")
# Counts of a state at the day's end, not of events in it: a week shows its last day's.
STOCKS = frozenset({rollup.RECORDINGS_HELD})


def _period_start(day: date, period: str) -> date:
    return day - timedelta(days=day.weekday()) if period == "week" else day


def _label(start: date, period: str) -> str:
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.strftime("%d.%m.%Y")


@dataclass(frozen=True)
class Series:
    dimension: str
    counts: tuple[int, ...]
    totals: tuple[int | None, ...]

    @property
    def label(self) -> str:
        known = _DIMENSION_LABELS.get(self.dimension)
        return known or self.dimension.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Figure:
    metric: str
    title: str
    periods: tuple[str, ...]
    series: tuple[Series, ...]
    with_average: bool

    def cells(self) -> Iterator[tuple[str, list[str]]]:
        """Each period's row as displayed: its label and one cell per series."""
        for index, period in enumerate(self.periods):
            cells = [disclosure.shown(series.counts[index]) for series in self.series]
            if self.with_average:
                cells += [
                    disclosure.average(series.totals[index], series.counts[index])
                    for series in self.series
                ]
            yield period, cells

    def chart(self) -> dict[str, Any]:
        """The data the chart script draws (suppressed cells as gaps)."""
        return {
            "labels": list(self.periods),
            "datasets": [
                {
                    "label": series.label,
                    "data": [disclosure.chart_value(count) for count in series.counts],
                }
                for series in self.series
            ],
        }


def figures(session: Session, *, first: date, last: date, period: str) -> list[Figure]:
    rows = session.execute(
        sa.select(
            DailyCount.metric,
            DailyCount.dimension,
            DailyCount.day,
            DailyCount.count,
            DailyCount.total,
        ).where(DailyCount.day >= first, DailyCount.day <= last)
    )
    starts: list[date] = []
    day = first
    while day <= last:
        start = _period_start(day, period)
        if not starts or starts[-1] != start:
            starts.append(start)
        day += timedelta(days=1)
    index = {start: n for n, start in enumerate(starts)}
    counts: dict[str, dict[str, list[int]]] = defaultdict(dict)
    totals: dict[str, dict[str, list[int | None]]] = defaultdict(dict)
    # The day whose state a period shows for a stock: its last day within the range.
    final_day = [
        min(start + timedelta(days=6), last) if period == "week" else start for start in starts
    ]
    for metric, dimension, day, count, total in rows:
        slot = index[_period_start(day, period)]
        series_counts = counts[metric].setdefault(dimension, [0] * len(starts))
        series_totals = totals[metric].setdefault(dimension, [None] * len(starts))
        if metric in STOCKS:
            if day == final_day[slot]:
                series_counts[slot] = count
            continue
        series_counts[slot] += count
        if total is not None:
            series_totals[slot] = (series_totals[slot] or 0) + total
    labels = tuple(_label(start, period) for start in starts)
    result = []
    for metric, title in TITLES.items():
        by_dimension = counts.get(metric, {})
        series = tuple(
            Series(dimension, tuple(values), tuple(totals[metric][dimension]))
            for dimension, values in sorted(by_dimension.items())
        )
        result.append(
            Figure(metric, title, labels, series, with_average=metric == rollup.REQUESTS_ANSWERED)
        )
    return result


def csv_rows(figures_: Sequence[Figure]) -> Iterator[list[str]]:
    """The CSV download: one row per figure, period and series, small cells hidden."""
    yield ["metric", "period", "dimension", "count", "average_days"]
    for figure in figures_:
        for index, period in enumerate(figure.periods):
            for series in figure.series:
                count = series.counts[index]
                average = (
                    disclosure.average(series.totals[index], count) if figure.with_average else ""
                )
                yield [figure.metric, period, series.dimension, disclosure.shown(count), average]
