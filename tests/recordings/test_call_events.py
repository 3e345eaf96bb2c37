"""Live call events (`POST /api/v1/calls/<id>/events`) over real HTTP: authentication and scope,
idempotency per (call, event), withheld numbers, unknown agents, hostile bodies, and the one
call with one contact from the first event through the finished call's report to the upload."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.contacts.models import Contact
from cs_register.customers.models import Customer
from cs_register.db import Database
from cs_register.integrations import services as token_services
from recordings.api import MAX_JSON_BYTES
from recordings.models import Call, Recording
from tests.recordings.audio_samples import FORMATS
from tests.support.context import make_context
from tests.support.telephony import Api, events_url

CALLER = "+358401234567"


@pytest.fixture
def token(database: Database, clock: Any) -> str:
    with database.unit_of_work() as session:
        _, raw = token_services.create_token(make_context(session, None, clock.now), name="pbx")
    return raw


@pytest.fixture
def api(client: Any, token: str, clock: Any) -> Api:
    return Api(client, token, clock)


@pytest.fixture
def agent(make_staff: Any) -> Any:
    return make_staff("agent", username="agent")


def rows(database: Database, model: type[Any]) -> list[Any]:
    with database.session_factory() as session:
        return list(session.scalars(sa.select(model).order_by(model.id)))


def audited(database: Database, action: AuditAction) -> list[AuditEvent]:
    with database.session_factory() as session:
        query = sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert "Traceback" not in response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def test_the_first_event_opens_the_call_and_its_contact(api, database, agent, clock):
    response = api.event("pbx-1", "ringing")

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    (call,) = rows(database, Call)
    (contact,) = rows(database, Contact)
    assert body["call"]["call_id"] == call.public_id
    assert body["call"]["contact_id"] == contact.public_id
    assert body["ringing_at"] == clock.now.isoformat()
    assert (body["answered_at"], body["recorded"]) == (None, True)
    assert response.headers["Location"] == "/api/v1/calls/pbx-1"
    assert (call.customer_number, call.agent_id, call.ringing_at) == (CALLER, agent.id, clock.now)
    assert (call.started_at, call.ended_at) == (clock.now, None)
    assert (contact.handled_by_id, contact.subject) == (agent.id, "Inbound call")
    (registered,) = audited(database, AuditAction.CALL_REGISTERED)
    (event,) = audited(database, AuditAction.CALL_EVENT_RECEIVED)
    assert event.actor_label == "integration:pbx"
    assert (event.subject_type, event.subject_id) == ("call", call.public_id)
    assert event.details == {"event": "ringing", "agent": agent.public_id}
    assert "401234567" not in json.dumps([registered.details, event.details])


def test_each_event_is_recorded_once(api, database, agent, clock):
    assert api.event("pbx-2", "ringing").status_code == 201
    repeat = api.event(
        "pbx-2", "ringing", occurred_at=(clock.now + timedelta(seconds=1)).isoformat()
    )
    clock.advance(timedelta(seconds=5))
    answered = api.event("pbx-2", "answered")
    answered_again = api.event("pbx-2", "answered")

    assert (repeat.status_code, repeat.get_json()["recorded"]) == (200, False)
    assert (answered.status_code, answered.get_json()["recorded"]) == (200, True)
    assert answered_again.get_json() == answered.get_json() | {"recorded": False}
    (call,) = rows(database, Call)
    assert call.ringing_at == clock.now - timedelta(seconds=5)
    assert call.answered_at == clock.now
    assert len(rows(database, Contact)) == 1
    assert len(audited(database, AuditAction.CALL_REGISTERED)) == 1
    events = audited(database, AuditAction.CALL_EVENT_RECEIVED)
    assert [e.details["event"] for e in events] == ["ringing", "answered"]


def test_the_agent_who_answers_takes_the_call(api, database, make_staff):
    first = make_staff("agent", username="first")
    second = make_staff("supervisor", username="second")
    api.event("pbx-3", "ringing", agent="first")
    api.event("pbx-3", "ringing", agent="second")  # a repeat of ringing: changes nothing
    (call,) = rows(database, Call)
    assert call.agent_id == first.id

    api.event("pbx-3", "answered", agent="Second")

    (call,) = rows(database, Call)
    (contact,) = rows(database, Contact)
    assert call.agent_id == contact.handled_by_id == second.id


@pytest.mark.parametrize("withheld", [None, "", "anonymous", " Withheld ", "absent"])
def test_a_withheld_number_is_still_a_call(api, database, agent, make_customer, withheld):
    make_customer(phone=CALLER)  # nobody is guessed for a withheld caller
    payload = {"event": "ringing", "agent": "agent", "occurred_at": api.clock.now.isoformat()}
    if withheld != "absent":
        payload["caller_number"] = withheld
    response = api.client.post(events_url("pbx-4"), json=payload, headers=api.headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["call"]["customer_linked"] is False
    (call,) = rows(database, Call)
    (contact,) = rows(database, Contact)
    assert call.customer_number is None
    assert (contact.customer_id, contact.subject) == (None, "Inbound call, number withheld")


def test_a_number_of_exactly_one_customer_links_the_contact(api, database, agent, make_customer):
    customer = make_customer(phone=CALLER)
    body = api.event("pbx-6", caller_number="+358 40 123 4567").get_json()
    assert body["call"]["customer_linked"] is True
    (contact,) = rows(database, Contact)
    with database.session_factory() as session:
        assert session.get(Customer, contact.customer_id).public_id == customer.public_id


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"event": "hangup"}, "event"),
        ({"event": "RINGING"}, "event"),
        ({"event": None}, "event"),
        ({"agent": "nobody"}, "agent"),
        ({"agent": "the-admin"}, "agent"),
        ({"agent": "gone"}, "agent"),
        ({"agent": ""}, "agent"),
        ({"agent": 7}, "agent"),
        ({"agent": "a" * 151}, "agent"),
        ({"caller_number": "not a number"}, "caller_number"),
        ({"caller_number": "²⁴⁰"}, "caller_number"),
        ({"caller_number": "9" * 400}, "caller_number"),
        ({"caller_number": 358401234567}, "caller_number"),
        ({"caller_number": ["anonymous"]}, "caller_number"),
        ({"occurred_at": None}, "occurred_at"),
        ({"occurred_at": "now"}, "occurred_at"),
        ({"occurred_at": "2026-11-23T08:00:00"}, "occurred_at"),
        ({"occurred_at": "２０２６-11-23T08:00:00+00:00"}, "occurred_at"),
        ({"occurred_at": "2026-11-23T09:06:00+00:00"}, "occurred_at"),  # the future
    ],
)
def test_each_invalid_field_is_named(api, database, agent, make_staff, overrides, field):
    make_staff("admin", username="the-admin")
    make_staff("agent", username="gone", active=False)
    response = api.event("pbx-7", **overrides)
    body = problem(response, 422)
    assert list(body["errors"]) == [field]
    assert "401234567" not in response.get_data(as_text=True)
    assert rows(database, Call) == []
    assert rows(database, Contact) == []


def test_digits_of_another_script_are_the_number_they_spell(api, database, agent):
    # phonenumbers reads Arabic-Indic and full-width digits; what is stored is ASCII E.164.
    assert api.event("pbx-12", caller_number="٠٤٠١٢٣٤٥٦٧").status_code == 201
    assert api.event("pbx-13", caller_number="０４０１２３４５６７").status_code == 201
    assert [call.customer_number for call in rows(database, Call)] == [CALLER, CALLER]


@pytest.mark.parametrize("external_call_id", ["has space", "x" * 129, "ä"])
def test_an_external_id_outside_the_pattern_is_refused(api, database, agent, external_call_id):
    body = problem(api.event(external_call_id), 422)
    assert list(body["errors"]) == ["external_call_id"]
    assert rows(database, Call) == []


def test_the_api_needs_a_telephony_token(client, database, agent, clock):
    payload = {"event": "ringing", "agent": "agent", "occurred_at": clock.now.isoformat()}
    assert problem(client.post(events_url("pbx-8"), json=payload), 401)
    bad = {"Authorization": "Bearer csr_nonsense"}
    assert problem(client.post(events_url("pbx-8"), json=payload, headers=bad), 401)
    with database.unit_of_work() as session:
        _, marketing = token_services.create_token(
            make_context(session, None, clock.now), name="crm", scope="marketing"
        )
    wrong_scope = {"Authorization": f"Bearer {marketing}"}
    assert problem(client.post(events_url("pbx-8"), json=payload, headers=wrong_scope), 403)
    assert rows(database, Call) == []


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('{"event": NaN}', "application/json", 400),
        ("[" * 30_000 + "]" * 30_000, "application/json", 400),
        ('{"a":' * 5_000 + "1" + "}" * 5_000, "application/json", 400),
        ("event=ringing", "application/x-www-form-urlencoded", 415),
        (json.dumps({"event": "ringing", "agent": "x" * MAX_JSON_BYTES}), "application/json", 413),
    ],
)
def test_hostile_bodies_are_problems(api, database, agent, data, content_type, status):
    response = api.client.post(
        events_url("pbx-9"), data=data, content_type=content_type, headers=api.headers
    )
    problem(response, status)
    assert rows(database, Call) == []


def test_one_call_one_contact_from_the_event_to_the_recording(
    api, database, agent, make_customer, clock, tmp_path: Path
):
    customer = make_customer(phone=CALLER)
    started = clock.now
    opened = api.event("pbx-10", "ringing").get_json()
    clock.advance(timedelta(seconds=4))
    api.event("pbx-10", "answered")
    clock.advance(timedelta(minutes=6))

    # The finished call's report: the same call, closed now; nothing else is overwritten.
    report = api.register(
        external_call_id="pbx-10",
        customer_number="+358 50 999 9999",
        agent_username="agent",
        started_at=(started - timedelta(seconds=20)).isoformat(),
        ended_at=clock.now.isoformat(),
    )
    assert report.status_code == 200, report.get_json()
    assert report.get_json()["call_id"] == opened["call"]["call_id"]
    assert report.get_json()["contact_id"] == opened["call"]["contact_id"]
    assert report.get_json()["ended_at"] == clock.now.isoformat()
    # A later report does not move the end again: the first report wins.
    later = api.register(external_call_id="pbx-10", ended_at=clock.now.isoformat())
    assert later.get_json() == report.get_json()

    writer, _ = FORMATS["wav_pcm16"]
    audio = writer(tmp_path / "call.wav").read_bytes()
    uploaded = api.upload("pbx-10", audio)
    assert uploaded.status_code == 201, uploaded.get_json()

    (call,) = rows(database, Call)
    (contact,) = rows(database, Contact)
    (recording,) = rows(database, Recording)
    assert (call.customer_number, call.started_at, call.ended_at) == (CALLER, started, clock.now)
    assert recording.contact_id == call.contact_id == contact.id
    with database.session_factory() as session:
        assert session.get(Customer, contact.customer_id).public_id == customer.public_id
    assert len(audited(database, AuditAction.CALL_REGISTERED)) == 1


def test_a_report_cannot_end_an_opened_call_before_it_started(api, database, agent, clock):
    api.event("pbx-11")
    response = api.register(
        external_call_id="pbx-11",
        started_at=(clock.now - timedelta(minutes=30)).isoformat(),
        ended_at=(clock.now - timedelta(minutes=20)).isoformat(),
    )
    assert list(problem(response, 422)["errors"]) == ["ended_at"]
    (call,) = rows(database, Call)
    assert call.ended_at is None
