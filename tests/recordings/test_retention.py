"""Retention rules at their exact boundaries, whatever the process time zone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recordings.retention import (
    HoldPeriod,
    RetentionPolicy,
    due_at,
    hold_cap,
    is_due,
    retain_until,
)

POLICY = RetentionPolicy()
SECOND = timedelta(seconds=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("recorded_at", "expected_retain_until"),
    [
        # 30 Nov + 3 months clamps to the end of February (not a leap year)...
        ("2025-11-30T12:00:00+02:00", "2026-02-28T12:00:00+02:00"),
        # ...and to 29 February in a leap year.
        ("2023-11-30T12:00:00+02:00", "2024-02-29T12:00:00+02:00"),
        # Leap day itself: 29 Feb + 3 months = 29 May (summer time by then).
        ("2024-02-29T10:00:00+02:00", "2024-05-29T10:00:00+03:00"),
        # 31 Aug + 3 months clamps to 30 Nov.
        ("2026-08-31T09:15:00+03:00", "2026-11-30T09:15:00+02:00"),
        # Counted on the Helsinki calendar: 00:30 on 1 March local is still 28 Feb in UTC.
        ("2026-03-01T00:30:00+02:00", "2026-06-01T00:30:00+03:00"),
    ],
)
def test_retention_is_three_calendar_months_on_the_helsinki_calendar(
    recorded_at, expected_retain_until
):
    assert retain_until(utc(recorded_at), POLICY) == utc(expected_retain_until)


def test_the_boundary_instant_itself_is_due_and_one_second_before_is_not():
    recorded = utc("2025-11-30T12:00:00+02:00")
    boundary = utc("2026-02-28T12:00:00+02:00")
    assert not is_due(recorded, [], POLICY, now=boundary - SECOND)
    assert is_due(recorded, [], POLICY, now=boundary)


def test_hold_cap_is_counted_from_the_recording_not_from_the_hold():
    recorded = utc("2025-01-31T08:00:00+02:00")
    assert hold_cap(recorded, POLICY) == utc("2026-01-31T08:00:00+02:00")
    # A hold placed late, asking for a year from its own start, still ends at the cap.
    late_hold = HoldPeriod(ends_at=recorded + timedelta(days=700))
    assert due_at(recorded, [late_hold], POLICY) == hold_cap(recorded, POLICY)
    assert not is_due(recorded, [late_hold], POLICY, now=hold_cap(recorded, POLICY) - SECOND)
    assert is_due(recorded, [late_hold], POLICY, now=hold_cap(recorded, POLICY))


def test_the_latest_active_hold_keeps_the_recording():
    recorded = utc("2026-01-10T10:00:00+02:00")
    short = HoldPeriod(ends_at=utc("2026-06-01T00:00:00+03:00"))
    longer = HoldPeriod(ends_at=utc("2026-09-01T00:00:00+03:00"))
    assert due_at(recorded, [short, longer], POLICY) == longer.ends_at


def test_a_released_hold_falls_back_to_the_normal_rule():
    recorded = utc("2026-01-10T10:00:00+02:00")
    released = HoldPeriod(
        ends_at=utc("2026-09-01T00:00:00+03:00"), released_at=utc("2026-05-01T00:00:00+03:00")
    )
    # Released after the 3 months were over: due at the moment of release.
    assert due_at(recorded, [released], POLICY) == released.released_at
    early_release = HoldPeriod(
        ends_at=utc("2026-09-01T00:00:00+03:00"), released_at=utc("2026-02-01T00:00:00+02:00")
    )
    assert due_at(recorded, [early_release], POLICY) == retain_until(recorded, POLICY)


def test_a_hold_shorter_than_the_normal_period_changes_nothing():
    recorded = utc("2026-01-10T10:00:00+02:00")
    hold = HoldPeriod(ends_at=recorded + timedelta(days=10))
    assert due_at(recorded, [hold], POLICY) == retain_until(recorded, POLICY)


def test_daylight_saving_gap_never_makes_a_recording_due_early():
    # 30 Dec 03:30 local + 3 months = 30 Mar 03:30, which does not exist on 2025-03-30
    # (clocks jump 03:00 -> 04:00). The later instant is chosen.
    recorded = utc("2024-12-30T03:30:00+02:00")
    assert retain_until(recorded, POLICY) == utc("2025-03-30T04:30:00+03:00")


def test_the_cap_can_never_be_configured_above_twelve_months():
    with pytest.raises(ValueError, match="12 months"):
        RetentionPolicy(hold_cap_months=13)
    with pytest.raises(ValueError, match="at least 1 month"):
        RetentionPolicy(retention_months=0)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        retain_until(datetime(2026, 1, 1, 12, 0), POLICY)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Helsinki", "Pacific/Kiritimati", "America/Nome"])
def test_results_do_not_depend_on_the_process_time_zone(zone, monkeypatch):
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        recorded = utc("2025-11-30T23:59:59+02:00")
        assert retain_until(recorded, POLICY) == utc("2026-02-28T23:59:59+02:00")
        assert hold_cap(recorded, POLICY) == utc("2026-11-30T23:59:59+02:00")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_separate_process_with_another_time_zone_computes_the_same_instant():
    script = (
        "from datetime import datetime;"
        "from recordings.retention import RetentionPolicy, retain_until;"
        "print(retain_until(datetime.fromisoformat('2025-11-30T22:00:00+00:00'),"
        " RetentionPolicy()).isoformat())"
    )
    root = Path(__file__).resolve().parents[2]
    outputs = set()
    for zone in ("UTC", "Asia/Tokyo", "America/Los_Angeles"):
        env = {**os.environ, "TZ": zone, "PYTHONPATH": str(root)}
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(result.stdout.strip())
    assert outputs == {"2026-02-28T22:00:00+00:00"}


instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


@given(
    recorded=instants,
    hold_offsets=st.lists(st.integers(min_value=-400, max_value=800), max_size=4),
    release_offsets=st.lists(st.none() | st.integers(min_value=0, max_value=800), max_size=4),
    now_offset=st.integers(min_value=-10, max_value=900),
)
def test_due_date_always_lies_between_the_normal_period_and_the_cap(
    recorded, hold_offsets, release_offsets, now_offset
):
    holds = [
        HoldPeriod(
            ends_at=recorded + timedelta(days=offset),
            released_at=(
                recorded + timedelta(days=release)
                if i < len(release_offsets) and (release := release_offsets[i]) is not None
                else None
            ),
        )
        for i, offset in enumerate(hold_offsets)
    ]
    due = due_at(recorded, holds, POLICY)
    assert retain_until(recorded, POLICY) <= due <= hold_cap(recorded, POLICY)
    now = recorded + timedelta(days=now_offset)
    assert is_due(recorded, holds, POLICY, now=now) == (now >= due)
    # Past the cap nothing can keep a recording.
    assert is_due(recorded, holds, POLICY, now=hold_cap(recorded, POLICY))
