"""Retention rules for call recordings: pure functions, the one place they are defined.

The privacy statement promises: recordings are kept 3 months; a supervisor may keep an
individual recording longer for a quality-development project or a complaint process, but
never more than 12 months. In code:

- `retain_until = recorded_at + RETENTION_MONTHS calendar months`. Month ends are clamped
  (30 Nov + 3 months = 28 Feb, or 29 Feb in a leap year).
- `hold_cap = recorded_at + HOLD_CAP_MONTHS calendar months`. It is counted from the recording,
  never from when a hold was placed, so no sequence of holds can stretch it.
- `due_at = min(hold_cap, max(retain_until, end of every active hold))`.
- "Due" includes the boundary instant: at `now == due_at` the recording is due.
- Once the person asked for erasure (`erasure_requested_at`), only complaint holds count:
  `due_at = min(hold_cap, max(erasure_requested_at, end of every complaint hold))`. So the
  erasure purges the recording at once, except one under a complaint hold, which is kept
  until that hold ends (the complaint is still being handled) and then purged by the sweep.
  A quality-development hold gives way to the request.

Times are stored and compared as UTC instants. Months are counted on the company's calendar
(Europe/Helsinki): a call recorded at 00:30 on 1 March Helsinki time is kept until 00:30 on
1 June Helsinki time, as a customer reading "3 months" would expect, whatever the server's own
time zone is. When the wall-clock result falls in a daylight-saving gap or overlap, the later of
the possible instants is used, so the rules never purge early.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cs_register.clock import CONSOLE_TIMEZONE, add_months, require_aware
from cs_register.config import MAX_HOLD_CAP_MONTHS

CALENDAR = CONSOLE_TIMEZONE


@dataclass(frozen=True)
class RetentionPolicy:
    retention_months: int = 3
    hold_cap_months: int = MAX_HOLD_CAP_MONTHS

    def __post_init__(self) -> None:
        if self.hold_cap_months > MAX_HOLD_CAP_MONTHS:
            raise ValueError(f"the hold cap may not exceed {MAX_HOLD_CAP_MONTHS} months")
        if not 1 <= self.retention_months <= self.hold_cap_months:
            raise ValueError("retention must be at least 1 month and at most the hold cap")


# The hold reasons an erasure request does not override (`recordings.models.HoldReason`).
REASONS_KEPT_THROUGH_ERASURE = frozenset({"complaint"})


@dataclass(frozen=True)
class HoldPeriod:
    """The part of a hold that matters to retention: when it ends (it is active until then),
    and why it was placed."""

    ends_at: datetime
    released_at: datetime | None = None
    reason: str = ""

    def end(self) -> datetime:
        """A released hold ends when it was released, if that came before its end date."""
        if self.released_at is not None and self.released_at < self.ends_at:
            return self.released_at
        return self.ends_at


def retain_until(recorded_at: datetime, policy: RetentionPolicy) -> datetime:
    return add_months(recorded_at, policy.retention_months)


def hold_cap(recorded_at: datetime, policy: RetentionPolicy) -> datetime:
    return add_months(recorded_at, policy.hold_cap_months)


def due_at(
    recorded_at: datetime,
    holds: Iterable[HoldPeriod],
    policy: RetentionPolicy,
    *,
    erasure_requested_at: datetime | None = None,
) -> datetime:
    """The instant from which the recording must no longer exist."""
    return schedule(recorded_at, holds, policy, erasure_requested_at=erasure_requested_at).due_at


def _due_at(
    retain: datetime,
    cap: datetime,
    holds: Iterable[HoldPeriod],
    erasure_requested_at: datetime | None,
) -> datetime:
    if erasure_requested_at is not None:
        keep_until = require_aware(erasure_requested_at, "erasure request")
        holds = [hold for hold in holds if hold.reason in REASONS_KEPT_THROUGH_ERASURE]
    else:
        keep_until = retain
    for hold in holds:
        keep_until = max(keep_until, require_aware(hold.end(), "hold end"))
    return min(keep_until, cap)


@dataclass(frozen=True)
class Schedule:
    """When a recording leaves: the normal period's end, the hold cap, and the instant it is
    due, given its holds. Status pages, the purge and its receipts all read this one answer."""

    retain_until: datetime
    cap: datetime
    due_at: datetime


def schedule(
    recorded_at: datetime,
    holds: Iterable[HoldPeriod],
    policy: RetentionPolicy,
    *,
    erasure_requested_at: datetime | None = None,
) -> Schedule:
    # Each calendar sum once: the sweep computes schedules for every recording it purges.
    retain, cap = retain_until(recorded_at, policy), hold_cap(recorded_at, policy)
    return Schedule(
        retain_until=retain, cap=cap, due_at=_due_at(retain, cap, holds, erasure_requested_at)
    )


def is_due(
    recorded_at: datetime,
    holds: Iterable[HoldPeriod],
    policy: RetentionPolicy,
    *,
    now: datetime,
    erasure_requested_at: datetime | None = None,
) -> bool:
    due = due_at(recorded_at, holds, policy, erasure_requested_at=erasure_requested_at)
    return require_aware(now, "now") >= due


def latest_hold_end(recorded_at: datetime, policy: RetentionPolicy) -> datetime:
    """The latest end date a new hold may have: the cap."""
    return hold_cap(recorded_at, policy)
