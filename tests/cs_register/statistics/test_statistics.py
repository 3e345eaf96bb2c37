"""Anonymised statistics: daily counts rolled up before the data goes, small cells never shown,
the CSV audited."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.clock import local_day_start, local_today
from cs_register.contacts import services as contact_services
from cs_register.contacts.models import Contact
from cs_register.contacts.retention import ContactRetention
from cs_register.personal_data import registry
from cs_register.privacy.data_retention import sweep_customer_service_data
from cs_register.staff.models import StaffUser
from cs_register.statistics import disclosure
from cs_register.statistics.models import DailyCount, RolledUpDay
from cs_register.statistics.rollup import count_day, roll_up
from tests.support.context import make_context


@pytest.fixture
def log_contacts(database, make_staff):
    agent = make_staff("agent", username="logger")

    def _log(day: date, channel: str, how_many: int, hour: int = 10) -> None:
        at = local_day_start(day) + timedelta(hours=hour)
        with database.unit_of_work() as session:
            ctx = make_context(session, session.get(StaffUser, agent.id), at)
            for _ in range(how_many):
                contact_services.log_contact(
                    ctx, form={"channel": channel, "direction": "inbound", "subject": "Login"}
                )

    return _log


def _counts(database, day) -> dict[tuple[str, str], int]:
    with database.session_factory() as session:
        rows = session.execute(
            sa.select(DailyCount.metric, DailyCount.dimension, DailyCount.count).where(
                DailyCount.day == day
            )
        )
        return {(metric, dimension): count for metric, dimension, count in rows}


def test_a_day_is_counted_by_helsinki_time(database, log_contacts, clock):
    day = local_today(clock.now) - timedelta(days=1)
    log_contacts(day, "phone", 6, hour=0)  # 00:xx in Helsinki is the previous UTC day
    log_contacts(day, "email", 2, hour=23)
    log_contacts(day + timedelta(days=1), "phone", 1, hour=0)
    with database.session_factory() as session:
        counted = {(c.metric, c.dimension): c.count for c in count_day(session, day)}
    assert counted[("contacts", "phone")] == 6
    assert counted[("contacts", "email")] == 2
    assert counted[("verifications", "not_attempted")] == 8


def test_roll_up_counts_each_finished_day_once_and_refreshes_the_last_two(
    database, log_contacts, clock
):
    today = local_today(clock.now)
    log_contacts(today - timedelta(days=5), "phone", 7)
    assert roll_up(database, now=clock.now) == 5  # from the first contact's day to yesterday
    assert _counts(database, today - timedelta(days=5))[("contacts", "phone")] == 7
    with database.session_factory() as session:
        marked = set(session.scalars(sa.select(RolledUpDay.day)))
    assert marked == {today - timedelta(days=n) for n in range(1, 6)}
    # Next day: yesterday is new, and the two days before it are counted again.
    log_contacts(today - timedelta(days=1), "chatbot", 5, hour=22)  # arrived late
    assert roll_up(database, now=clock.now + timedelta(days=1)) == 3
    assert _counts(database, today - timedelta(days=1))[("contacts", "chatbot")] == 5


def test_the_counts_outlive_the_contacts_behind_them(
    app, client, database, log_contacts, clock, logged_in
):
    day = local_today(clock.now) - timedelta(days=1)
    log_contacts(day, "phone", 12)
    roll_up(database, now=clock.now)
    later = clock.now + timedelta(days=200)
    with app.app_context():
        sweep_customer_service_data(database, registry(), now=later, policy=ContactRetention())
    with database.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Contact)) == 0
    roll_up(database, now=later)  # days already counted are not counted again from nothing
    assert _counts(database, day)[("contacts", "phone")] == 12
    clock.set(later)
    logged_in("supervisor")
    page = client.get("/statistics?period=week&days=365").get_data(as_text=True)
    table = page[page.index('id="figure-contacts"') :]
    assert "<td>12</td>" in table[: table.index("</section>")]


def _numbers_shown(page: str) -> list[int]:
    cells = re.findall(r"<td>([^<]*)</td>", page)
    return [int(cell) for cell in cells if cell.isdigit()]


def test_no_cell_under_five_is_ever_shown(client, database, log_contacts, clock, logged_in):
    yesterday = local_today(clock.now) - timedelta(days=1)
    log_contacts(yesterday, "phone", 5)
    log_contacts(yesterday, "email", 4)
    log_contacts(yesterday - timedelta(days=1), "email", 1)
    roll_up(database, now=clock.now)
    logged_in("supervisor")
    page = client.get("/statistics?period=day&days=30").get_data(as_text=True)
    section = page[page.index('id="figure-contacts"') :]
    section = section[: section.index("</section>")]
    assert "<td>5</td>" in section
    assert "&lt; 5" in section
    assert all(number >= disclosure.MIN_CELL for number in _numbers_shown(page))
    # The charts get gaps, not the small numbers.
    charted = re.findall(r'data-chart="([^"]*)"', page)
    assert charted
    assert all(
        not re.search(
            r"(?<![0-9])[1-4](?![0-9])", data.replace("&#34;", '"').split('"datasets"')[1]
        )
        for data in charted
    )

    response = client.get("/statistics.csv?period=week&days=30")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows
    assert all(
        row["count"] == disclosure.SUPPRESSED or int(row["count"]) >= disclosure.MIN_CELL
        for row in rows
    )
    # The week of the 4 and the 1 shows their sum; the weeks with none show "< 5" too.
    emails = {
        row["period"]: row["count"]
        for row in rows
        if row["metric"] == "contacts" and row["dimension"] == "email"
    }
    assert emails.pop(f"{yesterday.isocalendar()[0]}-W{yesterday.isocalendar()[1]:02d}") == "5"
    assert set(emails.values()) == {disclosure.SUPPRESSED}


def test_the_csv_download_is_audited(client, database, logged_in):
    user = logged_in("dpo")
    client.get("/statistics.csv?period=day&days=90")
    with database.session_factory() as session:
        event = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == AuditAction.STATISTICS_DOWNLOADED)
        ).one()
    assert event.actor_id == user.id
    assert event.details == {"period": "day", "days": 90}


@pytest.mark.parametrize("role", ["agent", "admin"])
def test_only_supervisors_and_the_dpo_see_statistics(client, logged_in, role):
    logged_in(role)
    assert client.get("/statistics").status_code == 403
    assert client.get("/statistics.csv").status_code == 403


def test_the_disclosure_rule() -> None:
    assert [disclosure.shown(n) for n in (0, 1, 4, 5, 17)] == ["< 5", "< 5", "< 5", "5", "17"]
    assert disclosure.chart_value(4) is None
    assert disclosure.chart_value(5) == 5
    assert disclosure.average(40, 4) == "< 5"
    assert disclosure.average(None, 0) == "< 5"
    assert disclosure.average(50, 5) == "10.0"


def test_a_week_shows_the_held_recordings_of_its_last_day_not_their_sum(database, clock):
    from cs_register.statistics import report

    monday = date(2026, 11, 16)
    with database.unit_of_work() as session:
        session.add_all(
            [
                DailyCount(day=monday, metric="recordings_held", dimension="complaint", count=9),
                DailyCount(
                    day=monday + timedelta(days=6),
                    metric="recordings_held",
                    dimension="complaint",
                    count=6,
                ),
                DailyCount(day=monday, metric="contacts", dimension="phone", count=5),
                DailyCount(
                    day=monday + timedelta(days=6), metric="contacts", dimension="phone", count=5
                ),
            ]
        )
    with database.session_factory() as session:
        figures = {
            f.metric: f
            for f in report.figures(
                session, first=monday, last=monday + timedelta(days=6), period="week"
            )
        }
    assert figures["recordings_held"].series[0].counts == (6,)
    assert figures["contacts"].series[0].counts == (10,)


@pytest.mark.parametrize("query", ["days=abc", "days=-30", "days=1000000", "period=month"])
def test_a_hand_edited_query_shows_the_defaults(client, logged_in, query):
    logged_in("supervisor")
    response = client.get(f"/statistics?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<option value="90" selected>' in page
    assert '<option value="day" selected>' in page
