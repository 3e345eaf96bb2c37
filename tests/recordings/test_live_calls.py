"""The agent's own calls on the console: the screen pop's JSON (`/console/live-call`) and the
page it degrades to (`/console/calls`), fed by live call events over the real API. The clock
is frozen and moved; nothing sleeps."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.db import Database
from cs_register.integrations import services as token_services
from recordings.live_calls import LIVE_WINDOW, format_caller
from recordings.models import Call
from tests.support.context import make_context
from tests.support.telephony import Api

LIVE = "/console/live-call"
CALLS = "/console/calls"


@pytest.fixture
def pbx(app: Any, database: Database, clock: Any) -> Api:
    with database.unit_of_work() as session:
        _, raw = token_services.create_token(make_context(session, None, clock.now), name="pbx")
    return Api(app.test_client(), raw, clock)


@pytest.fixture
def agent(client: Any, make_staff: Any, login: Any) -> Any:
    user = make_staff("agent", username="maija")
    login(client, user)
    return user


def audited(database: Database, action: AuditAction) -> list[AuditEvent]:
    with database.session_factory() as session:
        query = sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


def live(client: Any) -> Any:
    response = client.get(LIVE)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()["call"]


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("+358401234567", "040 123 4567"),
        ("+35891234567", "09 123 4567"),
        ("+358207123456", "020 712 3456"),
        ("+46701234567", "+46 70 123 45 67"),
        (None, "withheld"),
    ],
)
def test_the_caller_is_shown_as_agents_say_it(number, shown):
    assert format_caller(number) == shown


def test_nothing_pops_without_a_call(client, agent):
    assert live(client) is None


def test_a_ringing_call_pops_with_its_one_customer_and_contact(
    client, agent, pbx, make_customer, database
):
    customer = make_customer(phone="+358401234567", identity_code="131052-308T")
    opened = pbx.event("pbx-1", "ringing", agent="maija").get_json()

    call = live(client)

    contact_id = opened["call"]["contact_id"]
    assert call["call_id"] == opened["call"]["call_id"]
    assert (call["state"], call["caller"], call["withheld"]) == ("ringing", "040 123 4567", False)
    assert call["since"] == "23.11.2026 11:00"  # Helsinki time
    assert call["contact_url"] == f"/contacts/{contact_id}"
    assert call["contact_linked"] is True
    assert call["customers"] == [
        {
            "name": "Matti Meikäläinen",
            "masked_identity_code": "131052-****",
            "linked": True,
            "url": f"/customers/{customer.public_id}?call={call['call_id']}",
        }
    ]
    assert "308T" not in json.dumps(call)


def test_a_shared_number_shows_every_match_and_links_nobody(client, agent, pbx, make_customer):
    make_customer(given_names="Anna", phone="+358401234567")
    make_customer(given_names="Pekka", phone="040 123 4567")
    pbx.event("pbx-2", "answered", agent="maija")

    call = live(client)

    assert call["state"] == "answered"
    assert call["contact_linked"] is False
    assert [c["name"] for c in call["customers"]] == ["Anna Meikäläinen", "Pekka Meikäläinen"]
    assert not any(c["linked"] for c in call["customers"])


def test_a_withheld_caller_pops_without_customers(client, agent, pbx, make_customer):
    make_customer(phone="+358401234567")
    pbx.event("pbx-3", agent="maija", caller_number="anonymous")
    call = live(client)
    assert (call["caller"], call["withheld"], call["customers"]) == ("withheld", True, [])


def test_only_the_agents_own_call_pops(app, client, agent, pbx, make_staff, login):
    make_staff("agent", username="pekka")
    pbx.event("pbx-4", agent="pekka")
    assert live(client) is None

    other = app.test_client()
    login(other, make_staff("supervisor", username="sanna"))
    pbx.event("pbx-5", agent="sanna")
    assert live(other)["call_id"] != live(client)


def test_the_call_moves_to_whoever_answers(app, client, agent, pbx, make_staff, login):
    other = app.test_client()
    login(other, make_staff("agent", username="pekka"))
    pbx.event("pbx-6", "ringing", agent="maija")
    assert live(client) is not None

    pbx.event("pbx-6", "answered", agent="pekka")

    assert live(client) is None
    assert live(other)["state"] == "answered"


def test_an_ended_call_no_longer_pops(client, agent, pbx, clock):
    pbx.event("pbx-7", agent="maija")
    clock.advance(timedelta(minutes=2))
    pbx.register(
        external_call_id="pbx-7",
        started_at=(clock.now - timedelta(minutes=2)).isoformat(),
        ended_at=clock.now.isoformat(),
    )
    assert live(client) is None


def test_a_call_whose_end_never_came_leaves_the_screen_after_the_window(client, agent, pbx, clock):
    pbx.event("pbx-8", agent="maija")
    clock.advance(LIVE_WINDOW - timedelta(seconds=1))
    assert live(client) is not None
    clock.advance(timedelta(seconds=1))
    assert live(client) is None


def test_the_pop_is_audited_once_per_call_and_agent(client, agent, pbx, make_customer, database):
    customer = make_customer(phone="+358401234567")
    pbx.event("pbx-9", agent="maija")
    for _ in range(3):
        live(client)

    (event,) = audited(database, AuditAction.SCREEN_POP_SHOWN)
    assert (event.actor_id, event.subject_type) == (agent.id, "call")
    assert event.details == {"customers": [customer.public_id]}
    with database.session_factory() as session:
        call = session.scalar(sa.select(Call))
        assert call.pop_shown_to_id == agent.id


def test_a_pop_without_customers_is_not_audited(client, agent, pbx, database):
    pbx.event("pbx-10", agent="maija")
    assert live(client)["customers"] == []
    assert audited(database, AuditAction.SCREEN_POP_SHOWN) == []


@pytest.mark.parametrize("role", ["admin", "dpo"])
def test_who_takes_no_calls_gets_no_pop(client, make_staff, login, role):
    login(client, make_staff(role))
    assert client.get(LIVE).status_code == 403
    assert client.get(CALLS).status_code == 403
    assert 'id="screen-pop"' not in client.get("/").get_data(as_text=True)


def test_the_pop_container_and_its_script_are_on_an_agents_pages(client, agent):
    page = client.get("/contacts/unlinked")
    text = page.get_data(as_text=True)
    assert 'id="screen-pop"' in text
    assert 'data-source="/console/live-call"' in text
    assert '<script src="/static/screen_pop.js" defer></script>' in text
    assert "<script>" not in text  # nothing inline; the CSP allows only our own files
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
    assert client.get("/static/screen_pop.js").status_code == 200


def test_my_calls_lists_the_agents_recent_calls(
    client, agent, pbx, make_customer, make_staff, login, database, clock
):
    customer = make_customer(phone="+358401234567")
    make_staff("agent", username="pekka")
    pbx.event("pbx-11", agent="maija")
    pbx.event("pbx-12", agent="pekka", caller_number="+358409999999")
    pbx.event("pbx-13", agent="maija", caller_number=None)

    page = client.get(CALLS)

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "040 123 4567" in text
    assert "withheld" in text
    assert "040 999 9999" not in text  # another agent's
    assert "23.11.2026 11:00" in text  # Helsinki time
    assert f"/customers/{customer.public_id}?call=" in text
    assert "Matti Meikäläinen" in text
    assert "131052" not in text  # no identity code, not even masked: none was given

    clock.advance(timedelta(days=8))
    login(client, agent)
    pbx.event("pbx-14", agent="maija", caller_number="+358501112222")
    text = client.get(CALLS).get_data(as_text=True)
    assert "050 111 2222" in text
    assert "040 123 4567" not in text  # eight days ago
    views = audited(database, AuditAction.RECENT_CALLS_VIEWED)
    assert [v.details for v in views] == [
        {"calls": 2, "customers": [customer.public_id]},
        {"calls": 1, "customers": []},
    ]


def test_my_calls_is_in_an_agents_navigation(client, agent):
    assert 'href="/console/calls"' in client.get("/contacts/unlinked").get_data(as_text=True)


def test_the_pops_customer_link_offers_the_call_for_linking(
    app, client, agent, pbx, make_customer, make_staff, login, database
):
    anna = make_customer(given_names="Anna", phone="+358401234567")
    make_customer(given_names="Pekka", phone="+358401234567")
    make_customer(given_names="Other", phone="+358409999999")
    pbx.event("pbx-20", agent="maija")
    call = live(client)
    anna_url = next(c["url"] for c in call["customers"] if c["name"].startswith("Anna"))

    page = client.get(anna_url).get_data(as_text=True)

    assert 'id="this-call"' in page
    assert "Link the call to this customer" in page
    contact_id = call["contact_url"].rsplit("/", 1)[1]
    # Nobody else's page offers it, nor another agent's view of Anna's.
    other = make_customer(given_names="Kalle", phone="+358501112222")
    wrong = client.get(f"/customers/{other.public_id}?call={call['call_id']}")
    assert 'id="this-call"' not in wrong.get_data(as_text=True)
    colleague = app.test_client()
    login(colleague, make_staff("agent", username="pekka"))
    assert 'id="this-call"' not in colleague.get(anna_url).get_data(as_text=True)

    # One click (the contacts package's own link action) links the call's own contact.
    linked = client.post(
        f"/contacts/{contact_id}/link",
        data={"action": "link", "customer": anna.public_id},
    )
    assert linked.status_code == 302
    assert live(client)["contact_linked"] is True
    page = client.get(anna_url).get_data(as_text=True)
    assert "Complete the call&#39;s contact" in page or "Complete the call's contact" in page


def test_polling_does_not_keep_an_idle_session_alive(client, agent, clock):
    clock.advance(timedelta(minutes=20))
    assert live(client) is None  # still logged in: 20 of 30 idle minutes
    clock.advance(timedelta(minutes=10))
    # 30 minutes since the agent last did anything: the polls did not count.
    response = client.get(LIVE)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_a_page_view_does_keep_the_session_alive(client, agent, clock):
    clock.advance(timedelta(minutes=20))
    assert client.get(CALLS).status_code == 200
    clock.advance(timedelta(minutes=20))
    assert live(client) is None
