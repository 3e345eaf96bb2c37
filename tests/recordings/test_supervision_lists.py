"""The supervisors' recordings list says who and what each recording is about (customer,
subject, agent) and filters by state, hold reason and time to deletion, keeping the filters
while paging; a bad filter gets a readable message, never a 500."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from recordings import holds, views
from tests.support.context import make_context


def _hold(db_session, recording, supervisor, clock, policy, reason, reference):
    holds.place_hold(
        make_context(db_session, supervisor, clock.now),
        recording_public_id=recording.public_id,
        reason=reason,
        reference=reference,
        justification="Kept for the case.",
        ends_on=None,
        policy=policy,
    )
    db_session.commit()


def _listed(page: str) -> list[str]:
    return re.findall(r'<td><a href="/recordings/([0-9a-f-]{36})">', page)


def test_each_row_names_the_customer_subject_and_agent(
    client, logged_in, make_customer, make_recording
):
    customer = make_customer(given_names="Liisa", family_name="Laine")
    known = make_recording(customer=customer)
    unknown = make_recording(frequency=500)
    logged_in("supervisor")

    page = client.get("/recordings").get_data(as_text=True)

    rows = {
        public_id: page[page.index(public_id) : page.index("</tr>", page.index(public_id))]
        for public_id in (known.public_id, unknown.public_id)
    }
    assert f'href="/customers/{customer.public_id}">Liisa Laine</a>' in rows[known.public_id]
    assert "Invoice question" in rows[known.public_id]
    assert "Test Agent" in rows[known.public_id]  # the agent who logged the call
    assert "Unidentified" in rows[unknown.public_id]


def test_filters_by_hold_reason(
    client, logged_in, db_session, make_recording, staff_in, clock, policy
):
    quality = make_recording()
    complaint = make_recording(frequency=500)
    make_recording(frequency=700)  # not held
    supervisor = staff_in("supervisor")
    _hold(db_session, quality, supervisor, clock, policy, "quality_development", "QD-1")
    _hold(db_session, complaint, supervisor, clock, policy, "complaint", "C-1")
    logged_in("supervisor")

    page = client.get("/recordings?reason=complaint").get_data(as_text=True)
    assert _listed(page) == [complaint.public_id]
    assert '<option value="complaint" selected>' in page
    page = client.get("/recordings?reason=quality_development").get_data(as_text=True)
    assert _listed(page) == [quality.public_id]


def test_filters_by_days_to_deletion(client, make_staff, login, make_recording, clock):
    older = make_recording()
    clock.advance(timedelta(days=10))
    newer = make_recording(frequency=500)
    # 80 days on: the older one is due in about 12 days, the newer one in about 22.
    clock.advance(timedelta(days=70))
    login(client, make_staff("supervisor"))

    assert _listed(client.get("/recordings?due_within=15").get_data(as_text=True)) == [
        older.public_id
    ]
    assert _listed(client.get("/recordings?due_within=30").get_data(as_text=True)) == [
        newer.public_id,
        older.public_id,
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("due_within=abc", "a number of days from 1 to"),
        ("due_within=0", "a number of days from 1 to"),
        ("due_within=%C2%B2", "a number of days from 1 to"),
        ("due_within=" + "9" * 40, "a number of days from 1 to"),
        ("reason=fun", "choose quality development or complaint"),
        ("state=gone", "Choose kept or held."),
    ],
)
def test_a_bad_filter_gets_a_readable_message(client, logged_in, make_recording, query, message):
    make_recording()
    logged_in("supervisor")
    response = client.get(f"/recordings?{query}")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert _listed(page) == []


def test_paging_keeps_the_filters(
    client, logged_in, db_session, make_recording, staff_in, clock, policy, monkeypatch
):
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    supervisor = staff_in("supervisor")
    first = make_recording()
    clock.advance(timedelta(minutes=1))
    second = make_recording(frequency=500)
    clock.advance(timedelta(minutes=1))
    make_recording(frequency=700)  # newest, not held
    for recording, reference in ((first, "C-1"), (second, "C-2")):
        _hold(db_session, recording, supervisor, clock, policy, "complaint", reference)
    logged_in("supervisor")

    page = client.get("/recordings?reason=complaint&due_within=400").get_data(as_text=True)
    assert _listed(page) == [second.public_id]
    older = re.search(r'href="([^"]+)" rel="next"', page)
    assert older is not None
    link = older.group(1).replace("&amp;", "&")
    assert "reason=complaint" in link
    assert "due_within=400" in link
    assert _listed(client.get(link).get_data(as_text=True)) == [first.public_id]


def test_a_restricted_customers_recordings_are_in_no_list(
    client, logged_in, db_session, make_customer, make_recording, staff_in, clock, policy
):
    from cs_register.customers.models import Customer

    hidden_customer = make_customer(given_names="Salainen", family_name="Rajoitettu")
    hidden = make_recording(customer=hidden_customer)
    shown = make_recording(frequency=500)
    supervisor = staff_in("supervisor")
    for recording, reference in ((hidden, "C-1"), (shown, "C-2")):
        _hold(db_session, recording, supervisor, clock, policy, "complaint", reference)
    db_session.get(Customer, hidden_customer.id).restricted_at = clock.now
    db_session.commit()
    logged_in("supervisor")

    for path in ("/recordings", "/holds"):
        page = client.get(path).get_data(as_text=True)
        # As its own page does (404), the lists deny the restricted customer's recording.
        assert "Rajoitettu" not in page, path
        assert hidden.public_id not in page, path
        assert shown.public_id in page, path
    assert client.get(f"/recordings/{hidden.public_id}").status_code == 404
