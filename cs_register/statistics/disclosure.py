"""Small counts are not shown: the one place the rule is defined.

A count of fewer than `MIN_CELL` (5) could point at a person (the only complaint hold of a
day), so every cell under it, zero included, is shown as "< 5" on the page, in the charts
and in the CSV, and an average over fewer than 5 is not shown at all.

Known limit: suppression is per cell. Where a week's total and some of its days are shown,
subtracting can narrow a suppressed day down; the page shows weeks and days over the same
counts, so a reader who wants a day's exact small count may get near it. The counts are of
contacts and recordings, not of people's attributes.
"""

from __future__ import annotations

MIN_CELL = 5
SUPPRESSED = "< 5"


def is_shown(count: int) -> bool:
    return count >= MIN_CELL


def shown(count: int) -> str:
    """The cell as displayed."""
    return str(count) if is_shown(count) else SUPPRESSED


def chart_value(count: int) -> int | None:
    """The cell as charted: a gap where it is suppressed."""
    return count if is_shown(count) else None


def average(total: int | None, count: int) -> str:
    if total is None or not is_shown(count):
        return SUPPRESSED
    return f"{total / count:.1f}"
