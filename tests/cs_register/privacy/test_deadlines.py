"""The deadline arithmetic of data-subject requests, at month ends and to the day."""

from __future__ import annotations

from datetime import date

import pytest

from cs_register.privacy import deadlines
from cs_register.privacy.deadlines import Urgency


@pytest.mark.parametrize(
    ("received", "extension", "due"),
    [
        (date(2026, 11, 23), 0, date(2026, 12, 23)),
        # Month ends clamp, as in recording retention.
        (date(2026, 1, 31), 0, date(2026, 2, 28)),
        (date(2028, 1, 31), 0, date(2028, 2, 29)),
        (date(2026, 3, 31), 0, date(2026, 4, 30)),
        (date(2026, 12, 31), 0, date(2027, 1, 31)),
        # The extension counts from receipt too: 31 Jan + 3 months = 30 Apr, not 28 Apr.
        (date(2026, 1, 31), 1, date(2026, 3, 31)),
        (date(2026, 1, 31), 2, date(2026, 4, 30)),
        (date(2026, 11, 30), 2, date(2027, 2, 28)),
        # A day on which summer time starts or ends is an ordinary calendar day.
        (date(2026, 3, 29), 0, date(2026, 4, 29)),
        (date(2026, 9, 25), 0, date(2026, 10, 25)),
    ],
)
def test_due_one_calendar_month_after_receipt_plus_the_extension(received, extension, due):
    assert deadlines.due_on(received, extension) == due


@pytest.mark.parametrize("extension", [-1, 3])
def test_an_extension_is_zero_to_two_months(extension):
    with pytest.raises(ValueError, match="0 to 2 months"):
        deadlines.due_on(date(2026, 11, 23), extension)


def test_the_person_must_be_told_of_an_extension_within_the_first_month():
    assert deadlines.latest_extension_notice(date(2026, 1, 31)) == date(2026, 2, 28)


@pytest.mark.parametrize(
    ("today", "urgency"),
    [
        (date(2026, 12, 1), Urgency.ON_TIME),
        (date(2026, 12, 15), Urgency.ON_TIME),
        (date(2026, 12, 16), Urgency.DUE_SOON),  # 7 days left
        (date(2026, 12, 23), Urgency.DUE_SOON),  # the due day itself is still on time
        (date(2026, 12, 24), Urgency.OVERDUE),
    ],
)
def test_urgency_by_days_left(today, urgency):
    assert deadlines.urgency(date(2026, 12, 23), today, is_open=True) is urgency


def test_a_closed_case_has_no_urgency():
    assert deadlines.urgency(date(2026, 1, 1), date(2026, 12, 1), is_open=False) is Urgency.CLOSED
