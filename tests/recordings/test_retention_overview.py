"""The supervisors' retention overview: recordings by days until deletion, holds against the
12-month cap and purges per day, each counted by the database on the Helsinki calendar from a
frozen clock, shown as a chart drawn by our own static script and as a table beneath it."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from cs_register.clock import local_day_start
from cs_register.errors import PermissionDenied
from cs_register.staff.models import StaffUser
from recordings import holds, overview, retention
from recordings.models import Recording
from recordings.sweep import run_sweep
from tests.recordings import purge_support
from tests.support.context import make_context

hold = purge_support.hold
stored_recording = purge_support.stored_recording
supervisor = purge_support.supervisor

SECOND = timedelta(seconds=1)


def _midnight(day: date) -> datetime:
    return local_day_start(day).astimezone(UTC)


def _table(page: str, key: str) -> dict[str, list[int]]:
    """A figure's table: row label -> its cells (the series, then the total)."""
    section = page.partition(f'id="figure-{key}"')[2].partition("</section>")[0]
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th>(.*?)</tr>', section)
    return {
        html.unescape(label): [int(n) for n in re.findall(r"<td>(\d+)</td>", cells)]
        for label, cells in rows
    }


def _chart(page: str, key: str) -> dict:
    section = page.partition(f'id="figure-{key}"')[2].partition("</section>")[0]
    found = re.search(r'data-chart="([^"]*)"', section)
    assert found is not None
    return json.loads(html.unescape(found.group(1)))


def _set_due(database, recording, due_at):
    # The figure counts the stored `due_at` (which every hold change keeps current); setting
    # it directly puts a recording exactly on a day boundary.
    with database.unit_of_work() as session:
        session.execute(
            sa.update(Recording).where(Recording.id == recording.id).values(due_at=due_at)
        )


def test_recordings_are_counted_by_calendar_days_until_deletion_at_exact_boundaries(
    client, logged_in, database, stored_recording, clock
):
    now = clock.now  # 23.11.2026 11:00 in Helsinki
    today = now.astimezone(retention.CALENDAR).date()
    day = {n: _midnight(today + timedelta(days=n)) for n in (1, 8, 31, 61, 93)}
    dues = [
        now,  # due this instant: already gone as far as anyone is concerned
        now + SECOND,
        day[1] - SECOND,  # today's last second
        day[1],
        day[8] - SECOND,
        day[8],
        day[31] - SECOND,
        day[31],
        day[61],
        day[93] - SECOND,
        day[93],
    ]
    for due_at in dues:
        _set_due(database, stored_recording(now - timedelta(days=1)), due_at)

    with database.session_factory() as session:
        figure = overview.recordings_by_days_until_purge(session, now=now)
    assert figure.series[0].values == [2, 2, 2, 1, 2, 1]

    logged_in("supervisor")
    page = client.get("/recordings/overview").get_data(as_text=True)
    assert _table(page, "due") == {
        "Today": [2],
        "1–7 days": [2],
        "8–30 days": [2],
        "31–60 days": [1],
        "61–92 days": [2],
        "More than 92 days (held)": [1],
    }
    assert _chart(page, "due")["datasets"][0]["data"] == [2, 2, 2, 1, 2, 1]


def test_holds_are_counted_by_how_far_they_end_before_the_cap(
    client, logged_in, db_session, make_recording, staff_in, clock, policy
):
    keeper = staff_in("supervisor")
    cap_day = retention.hold_cap(clock.now, policy).astimezone(retention.CALENDAR).date()
    today = clock.now.astimezone(retention.CALENDAR).date()

    def hold_through(reason, ends_on, frequency):
        recording = make_recording(frequency=frequency)
        placed = holds.place_hold(
            make_context(db_session, keeper, clock.now),
            recording_public_id=recording.public_id,
            reason=reason,
            reference="REF-1",
            justification="Kept for the case.",
            ends_on=ends_on,
            policy=policy,
        )
        db_session.commit()
        return placed

    hold_through("complaint", None, 300)  # to the cap
    # Kept through a day ends at the next midnight: two days before the cap is 1 day short.
    hold_through("complaint", cap_day - timedelta(days=2), 400)
    hold_through("quality_development", cap_day - timedelta(days=31), 500)  # 30 days short
    hold_through("quality_development", cap_day - timedelta(days=32), 600)  # 31 days short
    hold_through("quality_development", today + timedelta(days=5), 700)
    released = hold_through("complaint", None, 800)
    holds.release_hold(
        make_context(db_session, keeper, clock.now),
        hold_public_id=released.public_id,
        note="Done.",
        policy=policy,
    )
    db_session.commit()

    logged_in("supervisor")
    page = client.get("/recordings/overview").get_data(as_text=True)
    # Columns: quality development, complaint, total.
    assert _table(page, "cap") == {
        "At the cap": [0, 1, 1],
        "1–30 days short": [1, 1, 2],
        "31–90 days short": [1, 0, 1],
        "91–180 days short": [0, 0, 0],
        "More than 180 days short": [1, 0, 1],
    }
    chart = _chart(page, "cap")
    assert [d["label"] for d in chart["datasets"]] == ["Quality development", "Complaint"]


def test_purges_per_day_come_from_the_receipts_of_real_sweeps(
    database, storage, policy, stored_recording, hold, clock
):
    now = clock.now  # today is 23.11.2026 in Helsinki
    first = date(2026, 10, 25)  # 30 days with today; the day summer time ends (25 hours)
    old = now - timedelta(days=300)

    def sweep(at):
        run_sweep(database, storage, now=at, policy=policy)

    stored_recording(old)
    sweep(_midnight(first) - SECOND)  # the day before the window: not counted
    capped = stored_recording(now - timedelta(days=370))
    hold(capped, now=capped.recorded_at + timedelta(days=1))  # to its cap, 5 days ago
    stored_recording(old)
    sweep(_midnight(first))  # the window's first instant
    stored_recording(old)
    stored_recording(old)
    sweep(now - timedelta(days=2))  # 21.11: two ends of retention and the capped one
    stored_recording(old)
    # 22.11 at 22:30 UTC is 23.11 at 00:30 in Helsinki: today.
    sweep(datetime(2026, 11, 22, 22, 30, tzinfo=UTC))

    with database.session_factory() as session:
        figure, first_day = overview.purges_per_day(session, now=now)
    assert first_day == first
    assert figure.labels[0] == "25.10."
    assert figure.labels[-1] == "23.11."
    by_reason = {series.label: series.values for series in figure.series}
    expected_retention = [0] * 30
    expected_retention[0], expected_retention[27], expected_retention[29] = 1, 2, 1
    assert by_reason["Retention ended"] == expected_retention
    expected_cap = [0] * 30
    expected_cap[27] = 1
    assert by_reason["Hold cap reached"] == expected_cap
    assert by_reason["Erasure request"] == [0] * 30
    assert figure.total == 5


def test_the_page_shows_purges_as_a_table_by_day(
    client, logged_in, database, storage, policy, stored_recording, clock
):
    stored_recording(clock.now - timedelta(days=300))
    run_sweep(database, storage, now=clock.now - timedelta(hours=1), policy=policy)
    logged_in("supervisor")
    page = client.get("/recordings/overview").get_data(as_text=True)
    table = _table(page, "purges")
    assert len(table) == 30
    # Columns: retention ended, hold cap reached, erasure request, orphan file, total.
    assert table["23.11."] == [1, 0, 0, 0, 1]
    assert table["22.11."] == [0, 0, 0, 0, 0]


@pytest.mark.parametrize("role", ["agent", "admin", "dpo"])
def test_only_supervisors_see_the_overview(client, logged_in, role):
    logged_in(role)
    assert client.get("/recordings/overview").status_code == 403


def test_the_page_draws_with_our_own_static_scripts_and_no_inline_script(client, logged_in, app):
    logged_in("supervisor")
    response = client.get("/recordings/overview")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>", page)
    sources = [re.search(r'src="([^"]+)"', attrs) for attrs in scripts]
    assert all(source is not None for source in sources), "an inline script"
    srcs = [source.group(1) for source in sources if source is not None]
    assert "/static/vendor/chart.umd.min.js" in srcs
    assert "/static/charts.js" in srcs
    assert all(src.startswith("/static/") for src in srcs)
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    served = client.get("/static/charts.js")
    assert served.status_code == 200
    assert "canvas.retention-chart" in served.get_data(as_text=True)
    served.close()
    # With nothing to count there is no chart, but every table is still there.
    assert "Nothing to count." in page
    assert 'href="/recordings/overview" aria-current="page">Retention</a>' in page


def test_the_overview_service_checks_the_permission(db_session, make_staff, clock, policy):
    agent = db_session.get(StaffUser, make_staff("agent").id)
    with pytest.raises(PermissionDenied):
        overview.retention_overview(make_context(db_session, agent, clock.now), policy=policy)
