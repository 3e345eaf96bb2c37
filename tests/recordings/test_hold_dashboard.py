"""The holds dashboard says who and what each held recording is about (customer, subject,
agent), filters by reason and by how soon the hold ends, and pages the holds in force on
(end, id) keeping the filters; a bad filter gets a readable 422, never a 500."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from recordings import hold_views, holds
from tests.support.context import make_context


def _hold(db_session, recording, supervisor, clock, policy, *, reason, reference, ends_on=None):
    hold = holds.place_hold(
        make_context(db_session, supervisor, clock.now),
        recording_public_id=recording.public_id,
        reason=reason,
        reference=reference,
        justification="Kept for the case.",
        ends_on=ends_on,
        policy=policy,
    )
    db_session.commit()
    return hold


def _all_holds(page: str) -> str:
    return page.partition('id="active-holds"')[2]


def _listed(section: str) -> list[str]:
    return re.findall(r'<a href="/recordings/([0-9a-f-]{36})">Recorded', section)


def _row_of(section: str, text: str) -> str:
    [row] = [row for row in section.split("<tr>") if text in row]
    return row


def _next_link(page: str) -> str | None:
    found = re.search(r'href="([^"]+)" rel="next"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_each_hold_names_the_customer_subject_and_agent(
    client, logged_in, db_session, make_customer, make_recording, staff_in, clock, policy
):
    customer = make_customer(given_names="Liisa", family_name="Laine")
    known = make_recording(customer=customer)
    unknown = make_recording(frequency=500)
    supervisor = staff_in("supervisor")
    for recording, reference in ((known, "QD-known"), (unknown, "QD-unknown")):
        _hold(
            db_session,
            recording,
            supervisor,
            clock,
            policy,
            reason="quality_development",
            reference=reference,
        )
    logged_in("supervisor")

    page = _all_holds(client.get("/holds").get_data(as_text=True))

    rows = {ref: _row_of(page, ref) for ref in ("QD-known", "QD-unknown")}
    assert f'href="/customers/{customer.public_id}">Liisa Laine</a>' in rows["QD-known"]
    assert "Invoice question" in rows["QD-known"]
    assert "Test Agent" in rows["QD-known"]
    assert "Unidentified" in rows["QD-unknown"]
    assert "Liisa Laine" not in rows["QD-unknown"]


def test_filters_by_reason_in_both_sections(
    client, logged_in, db_session, make_recording, staff_in, clock, policy
):
    quality = make_recording()
    complaint = make_recording(frequency=500)
    supervisor = staff_in("supervisor")
    soon = (clock.now + timedelta(days=5)).date()
    _hold(
        db_session,
        quality,
        supervisor,
        clock,
        policy,
        reason="quality_development",
        reference="QD-1",
        ends_on=soon,
    )
    _hold(
        db_session,
        complaint,
        supervisor,
        clock,
        policy,
        reason="complaint",
        reference="C-1",
        ends_on=soon,
    )
    logged_in("supervisor")

    page = client.get("/holds?reason=complaint").get_data(as_text=True)
    ending_soon, _, everything = page.partition('id="active-holds"')
    assert _listed(ending_soon) == [complaint.public_id]
    assert _listed(everything) == [complaint.public_id]
    assert "All active holds (1)" in page
    assert '<option value="complaint" selected>' in page


def test_filters_by_days_until_the_hold_ends(
    client, logged_in, db_session, make_recording, staff_in, clock, policy
):
    supervisor = staff_in("supervisor")
    near = make_recording()
    far = make_recording(frequency=500)
    # Kept through a day: the hold ends at the Helsinki midnight after it, 30 days away.
    _hold(
        db_session,
        near,
        supervisor,
        clock,
        policy,
        reason="complaint",
        reference="C-near",
        ends_on=(clock.now + timedelta(days=29)).date(),
    )
    _hold(db_session, far, supervisor, clock, policy, reason="complaint", reference="C-far")
    logged_in("supervisor")

    assert _listed(_all_holds(client.get("/holds?ending_within=31").get_data(as_text=True))) == [
        near.public_id
    ]
    assert _listed(_all_holds(client.get("/holds?ending_within=366").get_data(as_text=True))) == [
        near.public_id,
        far.public_id,
    ]
    assert _listed(_all_holds(client.get("/holds").get_data(as_text=True))) == [
        near.public_id,
        far.public_id,
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("ending_within=abc", "Ending within: a number of days from 1 to 366."),
        ("ending_within=0", "Ending within: a number of days from 1 to 366."),
        ("ending_within=367", "Ending within: a number of days from 1 to 366."),
        ("ending_within=-5", "Ending within: a number of days from 1 to 366."),
        ("ending_within=%C2%B2", "Ending within: a number of days from 1 to 366."),
        ("ending_within=" + "9" * 40, "Ending within: a number of days from 1 to 366."),
        ("reason=fun", "Hold reason: choose quality development or complaint."),
    ],
)
def test_a_bad_filter_gets_a_readable_message(
    client, logged_in, db_session, make_recording, staff_in, clock, policy, query, message
):
    recording = make_recording()
    _hold(
        db_session,
        recording,
        staff_in("supervisor"),
        clock,
        policy,
        reason="complaint",
        reference="C-1",
    )
    logged_in("supervisor")
    response = client.get(f"/holds?{query}")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert _listed(page) == []


def test_paging_walks_every_hold_once_in_order_keeping_the_filters(
    client, logged_in, db_session, make_recording, staff_in, clock, policy, monkeypatch
):
    monkeypatch.setattr(hold_views, "PAGE_SIZE", 2)
    supervisor = staff_in("supervisor")
    recorded = clock.now
    expected = []
    # Three holds to the cap of recordings made at the same instant end at the same instant:
    # the id breaks the tie, so none repeats or falls between pages.
    for index in range(3):
        recording = make_recording(recorded_at=recorded, frequency=400 + 100 * index)
        placed = _hold(
            db_session,
            recording,
            supervisor,
            clock,
            policy,
            reason="complaint",
            reference=f"C-{index}",
        )
        expected.append((placed.ends_at, placed.id, recording.public_id))
    for index, days in enumerate((40, 10)):
        recording = make_recording(frequency=900 + 100 * index)
        placed = _hold(
            db_session,
            recording,
            supervisor,
            clock,
            policy,
            reason="complaint",
            reference=f"C-d{days}",
            ends_on=(clock.now + timedelta(days=days)).date(),
        )
        expected.append((placed.ends_at, placed.id, recording.public_id))
    other = make_recording(frequency=1500)
    _hold(
        db_session,
        other,
        supervisor,
        clock,
        policy,
        reason="quality_development",
        reference="QD-other",
    )
    logged_in("supervisor")

    seen: list[str] = []
    link: str | None = "/holds?reason=complaint&ending_within=366"
    pages = 0
    while link is not None:
        page = client.get(link).get_data(as_text=True)
        assert "All active holds (5)" in page
        seen += _listed(_all_holds(page))
        link = _next_link(page)
        if link is not None:
            assert "reason=complaint" in link
            assert "ending_within=366" in link
        pages += 1
    assert pages == 3
    assert seen == [public_id for _, _, public_id in sorted(expected)]
    assert other.public_id not in seen


def test_the_ending_soon_section_stays(
    client, logged_in, db_session, make_recording, staff_in, clock, policy
):
    soon = make_recording()
    later = make_recording(frequency=500)
    supervisor = staff_in("supervisor")
    _hold(
        db_session,
        soon,
        supervisor,
        clock,
        policy,
        reason="complaint",
        reference="C-soon",
        ends_on=date.fromordinal(clock.now.date().toordinal() + 3),
    )
    _hold(db_session, later, supervisor, clock, policy, reason="complaint", reference="C-later")
    logged_in("supervisor")
    page = client.get("/holds?ending_within=200").get_data(as_text=True)
    ending_soon, _, everything = page.partition('id="active-holds"')
    assert "Ending in the next 14 days" in ending_soon
    assert _listed(ending_soon) == [soon.public_id]
    assert _listed(everything) == [soon.public_id]
