"""Privacy requests as tracked cases, end to end through the console: an agent registers one
from the customer's page, the DPO carries it out, supervisors follow the queue read-only."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from cs_register.audit.models import AuditAction
from cs_register.privacy.cases import OMBUDSMAN_NOTICE
from cs_register.privacy.models import RequestStatus

CODE = "131052-308T"


def test_an_agent_registers_a_request_from_the_customer_page_and_it_is_due_in_a_month(
    client, logged_in, make_customer, register, cases, privacy_events
):
    customer = make_customer(identity_code=CODE)
    agent = logged_in("agent")
    page = client.get(f"/customers/{customer.public_id}").get_data(as_text=True)
    assert "Privacy requests" in page
    assert f"/customers/{customer.public_id}/privacy-requests/new" in page
    form = client.get(f"/customers/{customer.public_id}/privacy-requests/new")
    assert form.status_code == 200
    assert 'value="2026-11-23"' in form.get_data(as_text=True)  # today, Helsinki

    response = register(customer)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/customers/{customer.public_id}")
    (case,) = cases()
    assert (case.kind.value, case.status, case.channel.value) == (
        "access",
        RequestStatus.RECEIVED,
        "phone",
    )
    assert (case.received_on, case.due_on) == (date(2026, 11, 23), date(2026, 12, 23))
    assert case.verified_identifiers == ["name", "identity_code"]
    assert case.registered_by_id == agent.id
    (event,) = privacy_events()
    assert event.action is AuditAction.PRIVACY_REQUEST_REGISTERED
    assert event.subject_id == case.public_id
    assert event.details["due_on"] == "2026-12-23"
    assert "copy" not in json.dumps(event.details)  # what was asked stays in the case
    page = client.get(f"/customers/{customer.public_id}").get_data(as_text=True)
    assert "registered; the data-protection officer answers it by 23.12.2026" in page
    assert "Access to own data" in page
    # The agent sees the case on the customer's page but cannot open the DPO's queue.
    assert f"/privacy/requests/{case.public_id}" not in page
    assert client.get("/privacy/requests").status_code == 403
    assert client.get(f"/privacy/requests/{case.public_id}").status_code == 403


@pytest.mark.parametrize(
    ("fields", "field_message"),
    [
        ({"kind": "forget-me"}, "Choose the request type."),
        ({"channel": ""}, "Choose the channel."),
        ({"received_on": "2026-11-24"}, "Date received cannot be in the future."),
        ({"received_on": "2025-11-01"}, "more than a year ago"),
        ({"received_on": "23.11.2026"}, "Date received must be a date such as 2026-11-23."),
        ({"description": "  "}, "What was asked is required."),
        ({"description": f"Delete {CODE} please"}, "must not contain an identity code"),
        ({"verified": ["shoe_size"]}, "Choose only identifiers"),
    ],
)
def test_a_bad_registration_is_refused_with_a_message_and_writes_nothing(
    client, logged_in, make_customer, register, cases, privacy_events, fields, field_message
):
    customer = make_customer()
    logged_in("agent")
    response = register(customer, **fields)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_message in page
    assert CODE not in page
    assert cases() == []
    assert privacy_events() == []


def test_only_the_dpo_registers_a_request_from_someone_not_in_the_register(
    client, logged_in, register, cases
):
    logged_in("agent")
    assert register(None).status_code == 403
    logged_in("dpo")
    refused = register(None)
    assert refused.status_code == 422
    assert "Reply to is required." in refused.get_data(as_text=True)
    response = register(None, reply_to="Letter to the sender's return address")
    (case,) = cases()
    assert response.headers["Location"].endswith(f"/privacy/requests/{case.public_id}")
    assert case.customer_id is None
    queue = client.get("/privacy/requests").get_data(as_text=True)
    assert "Not in the register" in queue


def test_the_queue_sorts_by_due_date_highlights_urgency_and_filters(
    client, logged_in, make_customer, register, clock, cases, privacy_events
):
    customer = make_customer()
    logged_in("agent")
    register(customer, kind="erasure", received_on="2026-10-20")  # due 20.11: overdue
    register(customer, kind="access", received_on="2026-11-23")  # due 23.12: on time
    register(customer, kind="objection", received_on="2026-10-28")  # due 28.11: due soon
    logged_in("dpo")
    response = client.get("/privacy/requests")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    positions = [page.index(day) for day in ("20.11.2026", "28.11.2026", "23.12.2026")]
    assert positions == sorted(positions)
    assert page.count('class="urgency-overdue"') == 1
    assert page.count('class="urgency-due_soon"') == 1
    assert page.count('class="urgency-on_time"') == 1
    assert 'id="privacy-banner"' in page  # one request is past the legal deadline

    only_erasures = client.get("/privacy/requests?kind=erasure").get_data(as_text=True)
    assert "Erasure" in only_erasures
    assert "28.11.2026" not in only_erasures
    assert "No privacy requests match." in client.get(
        "/privacy/requests?status=completed"
    ).get_data(as_text=True)
    bad = client.get("/privacy/requests?status=lost")
    assert bad.status_code == 422
    assert "Choose the status." in bad.get_data(as_text=True)
    viewed = [e for e in privacy_events() if e.action is AuditAction.PRIVACY_QUEUE_VIEWED]
    assert [e.details["shown"] for e in viewed] == [3, 1, 0]


def test_a_supervisor_follows_the_queue_but_cannot_act(
    client, logged_in, make_customer, register, cases
):
    customer = make_customer()
    logged_in("supervisor")
    register(customer)
    (case,) = cases()
    assert client.get("/privacy/requests").status_code == 200
    page = client.get(f"/privacy/requests/{case.public_id}").get_data(as_text=True)
    assert "Wants a copy of everything" in page
    assert "Start handling this request" not in page
    assert 'id="privacy-banner"' not in page
    for step in ("start", "extend", "complete", "refuse"):
        assert client.post(f"/privacy/requests/{case.public_id}/{step}").status_code == 403
    assert cases()[0].status is RequestStatus.RECEIVED


def test_the_dpo_starts_extends_and_completes_a_case_each_step_audited(
    client, logged_in, make_customer, register, cases, privacy_events, clock
):
    customer = make_customer()
    logged_in("agent")
    register(customer, received_on="2026-10-31")  # due 30.11
    (case,) = cases()
    dpo = logged_in("dpo")
    url = f"/privacy/requests/{case.public_id}"
    assert client.post(f"{url}/start").status_code == 303
    assert client.post(f"{url}/start").status_code == 409

    in_the_future = client.post(
        f"{url}/extend",
        data={"months": "2", "justification": "Hundreds of recordings.", "told_on": "2026-11-24"},
    )
    assert "cannot have been told in the future" in in_the_future.get_data(as_text=True)
    register(customer, received_on="2026-10-20")  # its first month ended on 20.11
    late_case = cases()[1]
    told_late = client.post(
        f"/privacy/requests/{late_case.public_id}/extend",
        data={"months": "2", "justification": "Hundreds of recordings.", "told_on": "2026-11-21"},
    )
    assert told_late.status_code == 422
    assert "by 20.11.2026; the deadline cannot be extended now" in told_late.get_data(as_text=True)
    too_long = client.post(
        f"{url}/extend",
        data={"months": "3", "justification": "A long review.", "told_on": "2026-11-20"},
    )
    assert too_long.status_code == 422
    assert "at most 2 in all" in too_long.get_data(as_text=True)
    unjustified = client.post(
        f"{url}/extend", data={"months": "1", "justification": "", "told_on": "2026-11-20"}
    )
    assert "Justification is required." in unjustified.get_data(as_text=True)
    assert cases()[0].due_on == date(2026, 11, 30)
    assert cases()[1].due_on == date(2026, 11, 20)

    extended = client.post(
        f"{url}/extend",
        data={
            "months": "2",
            "justification": "Hundreds of recordings to review.",
            "told_on": "2026-11-20",
        },
    )
    assert extended.status_code == 303
    assert cases()[0].due_on == date(2027, 1, 31)  # 31 Oct + 3 months
    page = client.get(url).get_data(as_text=True)
    assert "31.01.2027" in page
    assert "(extended by 2 months)" in page
    assert 'id="extend"' not in page  # two months is the most there is

    assert client.post(f"{url}/complete", data={"answer": ""}).status_code == 422
    done = client.post(f"{url}/complete", data={"answer": "Your data is in the attached export."})
    assert done.status_code == 303
    closed = cases()[0]
    assert closed.status is RequestStatus.COMPLETED
    assert closed.answer == "Your data is in the attached export."
    assert (closed.handled_by_id, closed.closed_at is not None) == (dpo.id, True)
    assert (
        client.post(f"{url}/refuse", data={"legal_reason": "x" * 20, "answer": "No."}).status_code
        == 409
    )

    steps = [e.action for e in privacy_events() if e.subject_id == case.public_id]
    assert [s for s in steps if s is not AuditAction.PRIVACY_REQUEST_VIEWED] == [
        AuditAction.PRIVACY_REQUEST_REGISTERED,
        AuditAction.PRIVACY_REQUEST_STARTED,
        AuditAction.PRIVACY_REQUEST_EXTENDED,
        AuditAction.PRIVACY_REQUEST_COMPLETED,
    ]
    completed = [e for e in privacy_events() if e.action is AuditAction.PRIVACY_REQUEST_COMPLETED]
    assert completed[0].details == {"on_time": True}


def test_a_refusal_needs_its_legal_reason_and_tells_of_the_ombudsman(
    client, logged_in, make_customer, register, cases
):
    customer = make_customer()
    logged_in("dpo")
    register(customer, kind="erasure")
    (case,) = cases()
    url = f"/privacy/requests/{case.public_id}"
    missing = client.post(f"{url}/refuse", data={"legal_reason": "", "answer": "We keep it."})
    assert missing.status_code == 422
    assert "Legal reason is required." in missing.get_data(as_text=True)
    assert cases()[0].status is RequestStatus.RECEIVED
    reason = "Accounting Act 2:10 requires the invoices to be kept for six years."
    assert (
        client.post(
            f"{url}/refuse", data={"legal_reason": reason, "answer": "We keep the invoices."}
        ).status_code
        == 303
    )
    refused = cases()[0]
    assert refused.status is RequestStatus.REFUSED
    assert refused.refusal_reason == reason
    assert refused.answer.startswith("We keep the invoices.")
    assert refused.answer.endswith(OMBUDSMAN_NOTICE)


def test_the_answer_to_a_complaint_tells_of_the_ombudsman(
    client, logged_in, make_customer, register, cases
):
    customer = make_customer()
    logged_in("dpo")
    register(customer, kind="complaint")
    (case,) = cases()
    client.post(f"/privacy/requests/{case.public_id}/complete", data={"answer": "We apologise."})
    assert cases()[0].answer == f"We apologise.\n\n{OMBUDSMAN_NOTICE}"


def test_the_banner_shows_the_dpo_an_overdue_request_from_the_day_after_it_was_due(
    client, logged_in, login, make_customer, register, clock
):
    customer = make_customer()
    dpo = logged_in("dpo")
    register(customer)  # received 23.11, due 23.12
    clock.advance(timedelta(days=30, hours=12))  # 23.12 23:00 Helsinki: still on time
    login(client, dpo)  # a month idle ended the first session
    on_time = client.get("/privacy/requests")
    assert on_time.status_code == 200
    assert 'id="privacy-banner"' not in on_time.get_data(as_text=True)
    clock.advance(timedelta(hours=1))  # 24.12 00:00 Helsinki
    login(client, dpo)  # past the idle timeout again
    page = client.get("/privacy/requests").get_data(as_text=True)
    assert "1 privacy request is past the legal deadline." in page
    logged_in("agent")
    agent_page = client.get(f"/customers/{customer.public_id}")
    assert agent_page.status_code == 200
    assert 'id="privacy-banner"' not in agent_page.get_data(as_text=True)


def test_everything_held_lists_the_persons_privacy_requests(
    client, logged_in, make_customer, register
):
    customer = make_customer()
    logged_in("dpo")
    register(customer)
    page = client.get(f"/privacy/customers/{customer.public_id}").get_data(as_text=True)
    assert "Privacy request" in page
    assert "Wants a copy of everything held" in page
    assert "<code>privacy_requests</code>" in page


def test_a_rectification_case_shows_the_corrections_made_while_it_is_open(
    client, logged_in, make_customer, register, cases, clock
):
    customer = make_customer(street_address="Katu 1", postal_code="00100", city="Helsinki")
    logged_in("dpo")
    edit = f"/customers/{customer.public_id}/edit"
    fields = {
        "given_names": "Matti",
        "family_name": "Meikäläinen",
        "street_address": "Katu 1",
        "postal_code": "00100",
    }
    # A correction before the request is not part of it.
    client.post(edit, data={**fields, "city": "Vantaa", "reason": "Moved before the request"})
    clock.advance(timedelta(minutes=1))
    register(customer, kind="rectification")
    (case,) = cases()
    url = f"/privacy/requests/{case.public_id}"
    page = client.get(url).text
    assert "No correction has been made while this request is open." in page
    assert f'href="{edit}"' in page
    clock.advance(timedelta(minutes=1))
    response = client.post(edit, data={**fields, "city": "Espoo", "reason": "Asked in the request"})
    assert response.status_code == 302
    page = client.get(url).text
    assert 'id="corrections"' in page
    assert "Asked in the request" in page
    assert "Vantaa" in page  # before
    assert "Espoo" in page  # after
    assert "Moved before the request" not in page
