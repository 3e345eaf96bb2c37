"""When a data-subject request must be answered: the one place the deadline rules live.

GDPR article 12(3): the answer is due within one month of receipt; the period may be extended
by two further months where necessary, and the person must be told of the extension, with its
reasons, within the first month. In code:

- `due_on = received_on + 1 calendar month (+ extension_months)` on the Helsinki calendar,
  with month ends clamped as in recording retention (31 Jan -> 28 Feb, or 29 Feb in a leap year).
- The due day itself is on time; a case still open on the day after it is overdue.
- A case is due soon when at most `DUE_SOON_DAYS` days are left.
- The person must be told of an extension on or before the original due day.
"""

from __future__ import annotations

import enum
from datetime import date

from cs_register.clock import add_months_to_day

RESPONSE_MONTHS = 1
MAX_EXTENSION_MONTHS = 2
DUE_SOON_DAYS = 7


def due_on(received_on: date, extension_months: int = 0) -> date:
    if not 0 <= extension_months <= MAX_EXTENSION_MONTHS:
        raise ValueError(f"an extension is 0 to {MAX_EXTENSION_MONTHS} months")
    return add_months_to_day(received_on, RESPONSE_MONTHS + extension_months)


def latest_extension_notice(received_on: date) -> date:
    """The last day on which the person can be told that the answer will take longer."""
    return due_on(received_on)


class Urgency(enum.Enum):
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    ON_TIME = "on_time"
    CLOSED = "closed"


def urgency(due: date, today: date, *, is_open: bool) -> Urgency:
    if not is_open:
        return Urgency.CLOSED
    if today > due:
        return Urgency.OVERDUE
    if (due - today).days <= DUE_SOON_DAYS:
        return Urgency.DUE_SOON
    return Urgency.ON_TIME
