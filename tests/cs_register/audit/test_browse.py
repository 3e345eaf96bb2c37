"""The audit trail browser: who may open it, filters, and that reading it is audited."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest

from cs_register.audit.models import AuditAction
from cs_register.permissions import Actor
from tests.cs_register.audit.conftest import audit_rows, event_rows


@pytest.mark.parametrize("role", ["supervisor", "dpo"])
def test_supervisor_and_dpo_may_browse(client, logged_in, role):
    logged_in(role)
    response = client.get("/audit")
    assert response.status_code == 200
    assert "Audit trail" in response.text


@pytest.mark.parametrize("role", ["agent", "admin"])
def test_other_roles_are_refused(client, logged_in, db_session, role):
    logged_in(role)
    assert client.get("/audit").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403
    assert audit_rows(db_session, AuditAction.AUDIT_VIEWED) == []
    assert audit_rows(db_session, AuditAction.AUDIT_TRAIL_EXPORTED) == []


def test_events_are_listed_in_words_newest_first_in_helsinki_time(
    client, logged_in, add_event, clock
):
    viewer = logged_in("supervisor")
    add_event(
        AuditAction.CUSTOMER_UPDATED,
        actor=viewer,
        when=datetime(2026, 7, 1, 9, 15, tzinfo=UTC),
        request_id="req-older-0001",
        details={"fields": ["city", "phone"], "reason_given": True},
    )
    add_event(AuditAction.CUSTOMER_SEARCHED, actor=viewer, when=clock.now)

    rows = event_rows(client.get("/audit", query_string={"action": "group:customers"}).text)
    assert len(rows) == 2
    assert "Searched customers" in rows[0]
    assert "Corrected a customer" in rows[1]
    # 09:15 UTC in July is 12:15 summer time in Helsinki; 09:00 UTC in November is 11:00.
    assert "01.07.2026 12:15:00" in rows[1]
    assert "23.11.2026 11:00:00" in rows[0]
    assert "req-older-0001" in rows[1]
    assert re.search(r"fields:</span>\s*city, phone", rows[1])
    assert re.search(r"reason_given:</span>\s*True", rows[1])
    # The staff member's display name, not the username or the id.
    assert "Test Supervisor" in rows[1]
    assert viewer.username not in rows[1]
    # Action codes are not shown; their labels are.
    assert "customer_updated" not in rows[1]


@pytest.mark.parametrize(
    ("actor", "words"),
    [
        (Actor.for_integration("chatbot"), "chatbot (integration)"),
        (Actor.for_job("retention-sweep-20261123T1005"), "job"),
        (Actor.for_job(None), "job"),
        (Actor.deployment(), "command line"),
        (Actor.for_command("retention"), "command line"),
        (Actor.anonymous(), "someone not signed in"),
    ],
)
def test_actors_that_are_not_staff_are_named_in_words(client, logged_in, add_event, actor, words):
    logged_in("supervisor")
    add_event(AuditAction.CONTACT_CREATED, actor=actor)
    (row,) = event_rows(client.get("/audit?action=contact_created").text)
    assert words in row


def test_each_filter_narrows_the_list_and_they_combine(
    client, logged_in, make_staff, add_event, clock
):
    viewer = logged_in("supervisor")
    other = make_staff("agent", username="other-agent")
    wanted = str(uuid.uuid4())
    add_event(AuditAction.CUSTOMER_VIEWED, actor=other, subject_type="customer", subject_id=wanted)
    add_event(
        AuditAction.CUSTOMER_VIEWED,
        actor=other,
        subject_type="customer",
        subject_id=str(uuid.uuid4()),
    )
    add_event(
        AuditAction.IDENTITY_CODE_REVEALED, actor=viewer, subject_type="customer", subject_id=wanted
    )
    add_event(AuditAction.CONTACT_VIEWED, actor=other, subject_type="contact", subject_id=wanted)

    by_staff = event_rows(client.get(f"/audit?staff={other.id}").text)
    # Only other-agent's own actions: its STAFF_CREATED row was written by the command line.
    assert len(by_staff) == 3
    assert all("Test Agent" in row for row in by_staff)

    by_action = event_rows(client.get("/audit?action=identity_code_revealed").text)
    assert len(by_action) == 1

    by_group = event_rows(client.get("/audit?action=group:contacts").text)
    assert len(by_group) == 1
    assert "Viewed a contact" in by_group[0]

    by_subject = event_rows(client.get(f"/audit?subject={wanted.upper()}").text)
    assert len(by_subject) == 3
    by_type = event_rows(client.get(f"/audit?subject_type=contact&subject={wanted}").text)
    assert len(by_type) == 1

    combined = event_rows(
        client.get(f"/audit?subject={wanted}&action=customer_viewed&staff={other.id}").text
    )
    assert len(combined) == 1
    nothing = event_rows(
        client.get(f"/audit?subject={wanted}&action=customer_viewed&staff={viewer.id}").text
    )
    assert nothing == []


def test_date_filters_use_the_helsinki_day(client, logged_in, add_event):
    logged_in("supervisor")
    # 22:30 UTC on the 9th is already 00:30 on the 10th in Helsinki (UTC+2 in winter).
    add_event(AuditAction.CONTACT_CREATED, when=datetime(2026, 3, 9, 22, 30, tzinfo=UTC))
    add_event(AuditAction.CONTACT_CREATED, when=datetime(2026, 3, 9, 21, 30, tzinfo=UTC))
    add_event(AuditAction.CONTACT_CREATED, when=datetime(2026, 3, 10, 21, 59, tzinfo=UTC))
    add_event(AuditAction.CONTACT_CREATED, when=datetime(2026, 3, 10, 22, 0, tzinfo=UTC))

    rows = event_rows(client.get("/audit?action=contact_created&from=10.03.2026&to=10.3.2026").text)
    assert len(rows) == 2
    assert "10.03.2026 00:30:00" in rows[1]
    assert "10.03.2026 23:59:00" in rows[0]

    only_from = event_rows(client.get("/audit?action=contact_created&from=11.03.2026").text)
    assert len(only_from) == 1
    only_to = event_rows(client.get("/audit?action=contact_created&to=09.03.2026").text)
    assert len(only_to) == 1


def test_the_date_hints_agree_with_the_inputs(client, logged_in):
    logged_in("supervisor")
    html = client.get("/audit").text
    assert html.count('placeholder="dd.mm.yyyy"') == 2
    assert html.count("dd.mm.yyyy, e.g. 23.11.2026") == 2
    # A reader who follows the hint is understood.
    assert client.get("/audit?from=23.11.2026").status_code == 200


def test_viewing_is_audited_with_filter_names_only(client, logged_in, db_session):
    viewer = logged_in("dpo")
    subject = str(uuid.uuid4())
    response = client.get(
        "/audit", query_string={"staff": "7", "subject": subject, "from": "01.01.2026"}
    )
    assert response.status_code == 200
    (event,) = audit_rows(db_session, AuditAction.AUDIT_VIEWED)
    assert event.actor_id == viewer.id
    assert event.request_id == response.headers["X-Request-Id"]
    assert sorted(event.details["filters"]) == ["from_date", "staff", "subject_id"]
    assert event.details["older_page"] is False
    # The values looked for stay out of the trail.
    assert subject not in str(event.details)


def test_the_view_is_not_listed_on_the_page_it_produced(client, logged_in):
    logged_in("supervisor")
    first = client.get("/audit?action=audit_viewed")
    assert event_rows(first.text) == []
    second = client.get("/audit?action=audit_viewed")
    assert len(event_rows(second.text)) == 1


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"action": "drop_table"}, "Choose an action from the list."),
        ({"action": "group:nonsense"}, "Choose an action from the list."),
        ({"staff": "maija"}, "Choose a staff member from the list."),
        ({"staff": "0"}, "Choose a staff member from the list."),
        ({"subject_type": "Customer; --"}, "Choose a kind of subject from the list."),
        ({"subject": "131052-308T"}, "Subject id must be a public id"),
        ({"from": "2026-11-23"}, "Dates are written as dd.mm.yyyy, e.g. 23.11.2026."),
        ({"to": "30.02.2026"}, "Dates are written as dd.mm.yyyy"),
        ({"from": "02.03.2026", "to": "01.03.2026"}, "must not be before"),
        ({"to": "31.12.9999"}, "Dates must be between 2000 and 2999."),
        ({"from": "01.01.0001"}, "Dates must be between 2000 and 2999."),
        ({"subject": "\x00"}, "Subject id must be a public id"),
        ({"before": "-5"}, "page link is not valid"),
        ({"before": "１２"}, "page link is not valid"),
        ({"after": "99999999999999999999999"}, "page link is not valid"),
        ({"before": str(2**31)}, "page link is not valid"),
        ({"before": "5", "after": "3"}, "page link is not valid"),
    ],
)
def test_invalid_filters_give_a_readable_error(client, logged_in, db_session, query, message):
    logged_in("supervisor")
    for url in ("/audit", "/audit/export.csv"):
        response = client.get(url, query_string=query)
        assert response.status_code == 422, url
        assert message in response.text
        assert "Please correct the following" in response.text
        assert event_rows(response.text) == []
    # Nothing was shown or downloaded, so there is nothing to record.
    assert audit_rows(db_session, AuditAction.AUDIT_VIEWED) == []
    assert audit_rows(db_session, AuditAction.AUDIT_TRAIL_EXPORTED) == []


def test_rejected_filter_values_are_not_echoed(client, logged_in):
    logged_in("supervisor")
    response = client.get(
        "/audit", query_string={"subject": "131052-308T", "subject_type": "customer"}
    )
    assert response.status_code == 422
    # Someone pasted an identity code into the subject box: it must not come back anywhere.
    assert "131052-308T" not in response.text
    assert re.search(r'name="subject" value=""', response.text)
    # Accepted filters are kept so the reader only fixes what was wrong.
    assert '<option value="customer" selected>' in response.text


def test_extreme_but_valid_values_are_answered(client, logged_in, add_event):
    logged_in("supervisor")
    add_event(AuditAction.CONTACT_VIEWED)
    response = client.get(
        "/audit",
        query_string={"before": str(2**31 - 1), "from": "01.01.2000", "to": "31.12.2999"},
    )
    assert response.status_code == 200
    assert len(event_rows(response.text)) >= 1
