"""Time as the register sees it: UTC in storage, Helsinki on the console and the calendar.

Every rule about time that more than one package needs lives here: the console's time zone,
how console and API timestamps are read, and how far ahead of our clock a peer's may run.
Services never read the clock themselves; they are handed `now` (a `Context` carries it).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from cs_register.identifiers import IdentifierError
from cs_register.languages import Message

# The company, its customers and its retention calendar are in Finland.
CONSOLE_TIMEZONE = ZoneInfo("Europe/Helsinki")
# How far a PBX's or chatbot's clock may run ahead of ours before its timestamps are refused
# as "in the future": enough for unsynchronised clocks, too little to backdate a purge.
CLOCK_SKEW = timedelta(minutes=5)

_LOCAL_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?")


def require_aware(value: datetime, name: str) -> datetime:
    """`value` in UTC; a naive datetime is a programming error, not a time to guess at."""
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def add_months(instant: datetime, months: int) -> datetime:
    """`months` calendar months later on the Helsinki calendar, clamped at month ends
    (30 Nov + 3 months = 28 Feb, or 29 Feb in a leap year).

    When the wall-clock result falls in a daylight-saving gap or overlap, the later of the
    possible instants is used, so a period never ends early.
    """
    local = require_aware(instant, "instant").astimezone(CONSOLE_TIMEZONE)
    wall_clock = local.replace(tzinfo=None) + relativedelta(months=months)
    candidates = (
        wall_clock.replace(tzinfo=CONSOLE_TIMEZONE, fold=fold).astimezone(UTC) for fold in (0, 1)
    )
    return max(candidates)


def add_months_to_day(day: date, months: int) -> date:
    """The Helsinki calendar day `months` months after `day`, clamped like `add_months`."""
    return add_months(local_day_start(day), months).astimezone(CONSOLE_TIMEZONE).date()


def local_today(now: datetime) -> date:
    """The Helsinki calendar date at `now`."""
    return now.astimezone(CONSOLE_TIMEZONE).date()


def local_time(value: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
    """Console times are Helsinki wall-clock; storage is UTC."""
    if value is None:
        return ""
    return value.astimezone(CONSOLE_TIMEZONE).strftime(fmt)


def local_input_value(value: datetime) -> str:
    """The value a `datetime-local` input expects, in the console's time zone."""
    return value.astimezone(CONSOLE_TIMEZONE).strftime("%Y-%m-%dT%H:%M")


def parse_local_datetime(raw: str) -> datetime:
    """A `datetime-local` form value, read as Helsinki wall-clock time, returned in UTC.

    Wall-clock times that do not exist (the hour skipped when summer time starts) are refused.
    Times that occur twice (the hour repeated when it ends) are read as the first occurrence,
    which is still summer time; agents log contacts as they happen, so the second one is rare.
    """
    if not _LOCAL_DATETIME.fullmatch(raw):
        raise IdentifierError("Time must be a date and time such as 2026-11-23T14:30.")
    try:
        naive = datetime.fromisoformat(raw)
    except ValueError:
        raise IdentifierError("Time is not a real date and time.") from None
    local = naive.replace(tzinfo=CONSOLE_TIMEZONE)
    as_utc = local.astimezone(UTC)
    if as_utc.astimezone(CONSOLE_TIMEZONE).replace(tzinfo=None) != naive:
        raise IdentifierError(
            "That time does not exist in Helsinki (clocks were moved forward); check the hour."
        )
    return as_utc


# Dates typed into the console: anything outside these years is a typo (and far-off years
# would overflow when turned into instants).
EARLIEST_FORM_YEAR = 2000
LATEST_FORM_YEAR = 2100


def parse_form_date(raw: str, *, label: str) -> date:
    """A date input's value (`2026-11-23`); the message names the field, never the value."""
    try:
        parsed = date.fromisoformat(raw.strip())
    except ValueError:
        raise IdentifierError(
            Message("%(label)s must be a date such as 2026-11-23.", label=label)
        ) from None
    if not EARLIEST_FORM_YEAR <= parsed.year <= LATEST_FORM_YEAR:
        raise IdentifierError(
            Message(
                "%(label)s must be between %(earliest)d and %(latest)d.",
                label=label,
                earliest=EARLIEST_FORM_YEAR,
                latest=LATEST_FORM_YEAR,
            )
        )
    return parsed


def local_day_start(day: date) -> datetime:
    """Midnight at the start of a Helsinki calendar day."""
    return datetime.combine(day, datetime.min.time(), tzinfo=CONSOLE_TIMEZONE)


def parse_api_timestamp(value: object) -> datetime:
    """An ISO 8601 timestamp with a UTC offset, as integrations send them, returned in UTC."""
    if not isinstance(value, str):
        raise IdentifierError(
            "Must be an ISO 8601 timestamp string, e.g. 2026-11-23T09:00:00+02:00."
        )
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise IdentifierError(
            "Not an ISO 8601 timestamp; use e.g. 2026-11-23T09:00:00+02:00."
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        # A wall-clock time without an offset is ambiguous twice a year in Finland.
        raise IdentifierError("The timestamp needs a UTC offset (e.g. +02:00 or Z).")
    try:
        # Stored in UTC: year 1 at +14:00 or year 9999 at -05:00 has no UTC equivalent.
        return parsed.astimezone(UTC)
    except OverflowError:
        raise IdentifierError("The timestamp is out of range.") from None
