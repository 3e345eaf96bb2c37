"""The console's words about retention tell the truth: a hold kept through a day is shown as
that day, "deleted at" is only said of the past, and a recording about to go says when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from recordings.holds import hold_end_text
from recordings.models import Recording, RecordingState

# 3 months after the recordings made at the suite's start (23.11.2026 09:00 UTC).
RETAIN_UNTIL = datetime(2027, 2, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ends_at", "shown"),
    [
        # Midnight in Helsinki (UTC+2 in winter): kept through the day before.
        (datetime(2027, 6, 30, 21, 0, tzinfo=UTC), "until 30.06.2027 (inclusive)"),
        (datetime(2027, 1, 1, 22, 0, tzinfo=UTC), "until 01.01.2027 (inclusive)"),
        # The night summer time begins (29.03.2026): midnight is still UTC+2.
        (datetime(2026, 3, 28, 22, 0, tzinfo=UTC), "until 28.03.2026 (inclusive)"),
        # The 12-month cap is an instant, not a day: shown to the minute.
        (datetime(2027, 11, 23, 9, 0, tzinfo=UTC), "until 23.11.2027 11:00"),
        (datetime(2027, 6, 30, 21, 0, 1, tzinfo=UTC), "until 01.07.2027 00:00"),
    ],
)
def test_a_holds_end_is_shown_as_the_supervisor_set_it(ends_at, shown):
    assert hold_end_text(ends_at) == shown


def _page(client, recording) -> str:
    return client.get(f"/recordings/{recording.public_id}").get_data(as_text=True)


def test_a_recording_about_to_go_says_when(client, make_staff, login, make_recording, clock):
    recording = make_recording()
    supervisor = make_staff("supervisor")

    # Logged in again at each moment: a session does not outlive the months skipped here.
    clock.set(RETAIN_UNTIL - timedelta(days=3))
    login(client, supervisor)
    page = _page(client, recording)
    assert 'class="badge retention-kept">Kept<' in page
    assert "To be deleted at" in page
    assert "Deleted at" not in page

    clock.set(RETAIN_UNTIL - timedelta(hours=2))
    login(client, supervisor)
    page = _page(client, recording)
    assert 'class="badge retention-soon">Purged in 2 h<' in page
    assert ">Kept<" not in page
    assert "in 2 h" in page

    clock.set(RETAIN_UNTIL - timedelta(minutes=35, seconds=30))
    login(client, supervisor)
    assert "Purged in 35 min" in _page(client, recording)


def test_the_list_says_to_be_deleted_not_deleted(client, logged_in, make_recording, clock):
    make_recording()
    clock.set(RETAIN_UNTIL - timedelta(hours=5))
    logged_in("supervisor")
    page = client.get("/recordings").get_data(as_text=True)
    assert "To be deleted" in page
    assert "Deleted at" not in page
    assert "Purged in 5 h" in page


def test_only_a_purged_recording_says_deleted_at(
    client, logged_in, db_session, make_recording, clock
):
    recording = make_recording()
    clock.set(RETAIN_UNTIL + timedelta(hours=1))
    db_session.execute(
        sa.update(Recording)
        .where(Recording.id == recording.id)
        .values(state=RecordingState.PURGED, storage_key=None, purged_at=clock.now)
    )
    db_session.commit()
    logged_in("supervisor")
    page = _page(client, recording)
    assert "Deleted at" in page
    assert "To be deleted" not in page
    assert "23.02.2027 12:00" in page  # purged_at, one hour past the due time, Helsinki
