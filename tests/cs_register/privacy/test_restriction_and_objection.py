"""Restriction and objection, carried out from a case: a restricted customer disappears for
everyone but the DPO, an objection stops quality-development holds; and the DPO opens only the
recordings a privacy request concerns."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.contacts.models import Contact
from cs_register.customers import restriction
from cs_register.integrations import services as token_services
from cs_register.staff.models import StaffUser
from recordings.models import Recording, RecordingHold
from tests.cs_register.conftest import build_url, console_rules
from tests.recordings.audio_samples import FORMATS
from tests.support.context import make_context
from tests.support.telephony import Api

CODE = "131052-308T"
QUALITY_HOLD = {
    "reason": "quality_development",
    "reference": "Quality project 7",
    "justification": "Training material for the new greeting.",
    "ends_on": "",
}
COMPLAINT_HOLD = {**QUALITY_HOLD, "reason": "complaint", "reference": "Complaint 2041"}


@pytest.fixture
def pbx(client, database, clock):
    with database.unit_of_work() as session:
        _, raw = token_services.create_token(make_context(session, None, clock.now), name="pbx")
    return Api(client, raw, clock)


def recorded_call(pbx, tmp_path, number="+358401234567"):
    call_id = pbx.new_call(customer_number=number)
    writer, _ = FORMATS["wav_pcm16"]
    assert (
        pbx.upload(call_id, writer(tmp_path / f"{call_id}.wav", seconds=1).read_bytes()).status_code
        == 201
    )
    return call_id


def only_recording(database):
    with database.session_factory() as session:
        return session.scalars(sa.select(Recording)).one()


def dpo_case(client, logged_in, register, cases, customer, kind):
    dpo = logged_in("dpo")
    register(customer, kind=kind)
    case = cases()[-1]
    return dpo, case


def test_a_restricted_customer_disappears_for_agents_and_supervisors(
    app, client, logged_in, login, make_customer, register, cases, database, pbx, tmp_path
):
    customer = make_customer(identity_code=CODE, phone="0401234567")
    recorded_call(pbx, tmp_path)
    recording = only_recording(database)
    with database.session_factory() as session:
        contact = session.scalars(sa.select(Contact)).one()
    assert contact.customer_id == customer.id
    dpo, case = dpo_case(client, logged_in, register, cases, customer, "restriction")
    url = f"/privacy/requests/{case.public_id}"
    assert client.post(f"{url}/restrict", data={"reason": "short"}).status_code == 422
    assert (
        client.post(
            f"{url}/restrict", data={"reason": "Rectification of the address pending."}
        ).status_code
        == 303
    )
    page = client.get(f"/customers/{customer.public_id}").get_data(as_text=True)
    assert "Processing restricted" in page

    for role in ("agent", "supervisor"):
        logged_in(role)
        for kind, value in (
            ("name", "Meikäläinen"),
            ("phone", "0401234567"),
            ("identity_code", CODE),
        ):
            found = client.post(
                "/customers/search",
                data={"kind": kind, "value": value},
                follow_redirects=True,
            )
            assert found.status_code == 200
            assert customer.public_id not in found.get_data(as_text=True)
        for hidden in (
            f"/customers/{customer.public_id}",
            f"/customers/{customer.public_id}/history",
            f"/customers/{customer.public_id}/edit",
            f"/customers/{customer.public_id}/privacy-requests/new",
            f"/contacts/{contact.public_id}",
            f"/recordings/{recording.public_id}",
            f"/recordings/{recording.public_id}/audio",
        ):
            assert client.get(hidden).status_code == 404, (role, hidden)
        assert (
            client.post(
                f"/customers/{customer.public_id}/identity-code",
                data={"purpose": "Checking the contract"},
            ).status_code
            == 404
        )

    # A new call from their number is not linked: it waits for the DPO, and only the DPO
    # sees that it exists.
    recorded_call(pbx, tmp_path)
    with database.session_factory() as session:
        newest = session.scalars(sa.select(Contact).order_by(Contact.id.desc())).first()
    assert newest.customer_id is None
    assert newest.held_for_customer_id == customer.id
    for role in ("agent", "supervisor"):
        logged_in(role)
        queue = client.get("/contacts/unlinked").get_data(as_text=True)
        assert newest.public_id not in queue, role
        assert client.get(f"/contacts/{newest.public_id}").status_code == 404, role

    login(client, dpo)
    assert newest.public_id in client.get("/contacts/unlinked").get_data(as_text=True)
    assert client.get(f"/contacts/{newest.public_id}").status_code == 200
    assert client.post(f"{url}/lift-restriction").status_code == 303
    # Lifted: what waited is linked to them, as intake would have done.
    with database.session_factory() as session:
        released = session.get(Contact, newest.id)
        assert released is not None
        assert (released.customer_id, released.held_for_customer_id) == (customer.id, None)
        assert released.linked_by_id == dpo.id
    logged_in("agent")
    assert client.get(f"/customers/{customer.public_id}").status_code == 200
    assert client.get(f"/contacts/{newest.public_id}").status_code == 200
    with database.session_factory() as session:
        actions = list(
            session.scalars(
                sa.select(AuditEvent.action).where(
                    AuditEvent.subject_id == customer.public_id,
                    AuditEvent.action.in_(
                        [AuditAction.CUSTOMER_RESTRICTED, AuditAction.CUSTOMER_RESTRICTION_LIFTED]
                    ),
                )
            )
        )
    assert actions == [AuditAction.CUSTOMER_RESTRICTED, AuditAction.CUSTOMER_RESTRICTION_LIFTED]


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_no_console_page_shows_a_restricted_customer(
    app, client, logged_in, console_objects, database, clock, make_staff, role
):
    """Walk every page an agent or supervisor can open: the restricted customer is on none."""
    dpo = make_staff("dpo")
    with database.unit_of_work() as session:
        restriction.restrict(
            make_context(session, session.get(StaffUser, dpo.id), clock.now),
            customer_public_id=console_objects.customer,
            reason="Rectification pending, asked by the customer.",
        )
    logged_in(role)
    walked = 0
    for rule in console_rules(app):
        if "GET" not in rule.methods or rule.endpoint in ("static", "auth.logout"):
            continue
        response = client.get(build_url(app, rule, console_objects))
        assert response.status_code < 500, rule.rule
        page = response.get_data(as_text=True)
        assert "Testaaja" not in page, rule.rule
        if rule.endpoint not in ("audit.browse", "audit.export_csv"):
            # The audit trail must stay complete for oversight: it keeps the restricted
            # customer's public id (not their name), which leads nowhere (the page answers 404).
            assert console_objects.customer not in page, rule.rule
        walked += 1
    assert walked > 20


def test_an_objection_stops_quality_holds_but_not_complaint_holds(
    client, logged_in, login, make_customer, register, cases, database, pbx, tmp_path
):
    customer = make_customer(phone="0401234567")
    recorded_call(pbx, tmp_path)
    recording = only_recording(database)
    dpo, case = dpo_case(client, logged_in, register, cases, customer, "objection")
    url = f"/privacy/requests/{case.public_id}"
    assert client.post(f"{url}/objection", data={"objection": ""}).status_code == 422
    assert (
        client.post(
            f"{url}/objection", data={"objection": "Use of my calls for training"}
        ).status_code
        == 303
    )
    assert client.post(f"{url}/objection", data={"objection": "Again"}).status_code == 409

    logged_in("supervisor")
    refused = client.post(f"/recordings/{recording.public_id}/holds", data=QUALITY_HOLD)
    assert refused.status_code == 422
    assert "objected to the use of their data for quality work" in refused.get_data(as_text=True)
    with database.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(RecordingHold)) == 0
    placed = client.post(f"/recordings/{recording.public_id}/holds", data=COMPLAINT_HOLD)
    assert placed.status_code == 302

    login(client, dpo)
    assert client.post(f"{url}/withdraw-objection").status_code == 303
    logged_in("supervisor")
    assert (
        client.post(f"/recordings/{recording.public_id}/holds", data=QUALITY_HOLD).status_code
        == 302
    )


def test_a_step_for_another_kind_of_request_is_refused(
    client, logged_in, make_customer, register, cases
):
    customer = make_customer()
    _, case = dpo_case(client, logged_in, register, cases, customer, "access")
    refused = client.post(
        f"/privacy/requests/{case.public_id}/restrict", data={"reason": "Not this one at all."}
    )
    assert refused.status_code == 409
    assert "belongs to a restriction of processing request" in refused.get_data(as_text=True)


def test_the_dpo_opens_only_the_recordings_an_open_case_concerns(
    client, logged_in, make_customer, register, cases, database, pbx, tmp_path
):
    customer = make_customer(phone="0401234567")
    recorded_call(pbx, tmp_path)
    recording = only_recording(database)
    logged_in("dpo")
    assert client.get(f"/recordings/{recording.public_id}").status_code == 404
    assert client.get(f"/recordings/{recording.public_id}/audio").status_code == 404
    assert "▶ recording" not in client.get(f"/customers/{customer.public_id}").text
    register(customer, kind="complaint")
    (case,) = cases()
    assert "▶ recording" in client.get(f"/customers/{customer.public_id}").text
    assert client.get(f"/recordings/{recording.public_id}").status_code == 200
    played = client.get(f"/recordings/{recording.public_id}/audio")
    assert played.status_code == 200
    assert played.headers["Content-Type"].startswith("audio/")
    client.post(f"/privacy/requests/{case.public_id}/complete", data={"answer": "Handled."})
    assert client.get(f"/recordings/{recording.public_id}/audio").status_code == 404
