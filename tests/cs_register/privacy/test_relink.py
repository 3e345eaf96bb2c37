"""Rectification of whose contact it is: the DPO moves a contact linked to the request's
customer by mistake to the right customer, or to nobody, with a reason, history and audit."""

from __future__ import annotations

import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.contacts.models import Contact, ContactRelink
from tests.support.writer_lock import transactions_of


def _contact_of(client, customer, subject="Laskuvirhe") -> str:
    response = client.post(
        "/contacts/new",
        data={
            "customer": customer.public_id,
            "channel": "email",
            "direction": "inbound",
            "occurred_at": "2026-11-23T10:45",
            "subject": subject,
            "notes": "",
            "verification_outcome": "not_attempted",
        },
    )
    assert response.status_code == 302
    return response.headers["Location"].rsplit("/", 1)[-1]


def _rectification(client, logged_in, register, cases, customer):
    logged_in("dpo")
    register(customer, kind="rectification", description="The invoice email was not mine.")
    return cases()[-1]


def test_the_dpo_moves_a_contact_to_the_right_customer(
    client, logged_in, make_customer, register, cases, database
):
    wrong = make_customer(given_names="Matti", family_name="Meikäläinen")
    right = make_customer(given_names="Maija", family_name="Virtanen", email="maija@example.fi")
    logged_in("agent")
    contact_id = _contact_of(client, wrong)
    case = _rectification(client, logged_in, register, cases, wrong)
    case_url = f"/privacy/requests/{case.public_id}"
    page = client.get(case_url).get_data(as_text=True)
    relink_url = f"{case_url}/contacts/{contact_id}/relink"
    assert relink_url in page

    assert client.get(relink_url).status_code == 200
    found = client.post(relink_url, data={"action": "search", "kind": "name", "value": "Virtanen"})
    assert found.status_code == 200
    assert f'value="{right.public_id}"' in found.get_data(as_text=True)
    short = client.post(
        relink_url, data={"action": "move", "customer": right.public_id, "reason": "no"}
    )
    assert short.status_code == 422
    assert "Reason must be at least" in short.get_data(as_text=True)
    moved = client.post(
        relink_url,
        data={
            "action": "move",
            "customer": right.public_id,
            "reason": "Sent from Maija's address; the agent chose the wrong customer.",
        },
    )
    assert moved.status_code == 303

    with database.session_factory() as session:
        contact = session.scalar(sa.select(Contact).where(Contact.public_id == contact_id))
        assert contact is not None
        assert contact.customer_id == right.id
        (move,) = session.scalars(sa.select(ContactRelink)).all()
        assert (move.from_customer_id, move.to_customer_id) == (wrong.id, right.id)
        assert move.request_public_id == case.public_id
        (event,) = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == AuditAction.CONTACT_RELINKED)
        ).all()
    assert event.subject_id == contact_id
    assert event.details == {
        "from": wrong.public_id,
        "to": right.public_id,
        "request": case.public_id,
    }
    page = client.get(case_url).get_data(as_text=True)
    assert 'id="relinks"' in page
    assert "the agent chose the wrong customer" in page
    contact_page = client.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert 'id="link-history"' in contact_page
    assert "Virtanen" in contact_page

    # It is no longer the request's customer's: it cannot be moved from here again.
    again = client.post(
        relink_url, data={"action": "move", "customer": "", "reason": "Moving it once more."}
    )
    assert again.status_code == 409


def test_a_contact_moved_to_nobody_waits_unlinked(
    client, logged_in, make_customer, register, cases, database
):
    customer = make_customer()
    logged_in("agent")
    contact_id = _contact_of(client, customer)
    case = _rectification(client, logged_in, register, cases, customer)
    relink_url = f"/privacy/requests/{case.public_id}/contacts/{contact_id}/relink"
    response = client.post(
        relink_url,
        data={"action": "move", "customer": "", "reason": "Not from any customer of ours."},
    )
    assert response.status_code == 303
    with database.session_factory() as session:
        contact = session.scalar(sa.select(Contact).where(Contact.public_id == contact_id))
        assert contact is not None
        assert (contact.customer_id, contact.linked_at) == (None, None)
    logged_in("agent")
    assert contact_id in client.get("/contacts/unlinked").get_data(as_text=True)


def test_only_the_dpo_and_only_in_a_rectification_request(
    client, logged_in, make_customer, register, cases
):
    customer = make_customer()
    other = make_customer(family_name="Muukalainen")
    logged_in("agent")
    contact_id = _contact_of(client, customer)
    others_contact = _contact_of(client, other)
    case = _rectification(client, logged_in, register, cases, customer)
    url = f"/privacy/requests/{case.public_id}/contacts"
    assert client.get(f"{url}/{others_contact}/relink").status_code == 409
    register(customer, kind="access")
    access = cases()[-1]
    assert (
        client.get(f"/privacy/requests/{access.public_id}/contacts/{contact_id}/relink").status_code
        == 409
    )
    for role in ("agent", "supervisor"):
        logged_in(role)
        assert client.get(f"{url}/{contact_id}/relink").status_code == 403, role


def test_erasing_a_customer_leaves_no_trace_in_moves_of_others_contacts(
    app, client, logged_in, make_customer, register, cases, database, clock
):
    from cs_register.db import get_database
    from cs_register.personal_data import registry
    from cs_register.privacy.erasure import carry_out_erasure

    erased = make_customer(family_name="Kanarialintunen")
    keeper = make_customer(family_name="Pysyvä")
    logged_in("agent")
    contact_id = _contact_of(client, erased)
    case = _rectification(client, logged_in, register, cases, erased)
    client.post(
        f"/privacy/requests/{case.public_id}/contacts/{contact_id}/relink",
        data={
            "action": "move",
            "customer": keeper.public_id,
            "reason": "Kanarialintunen says this was Pysyvä's email.",
        },
    )
    register(erased, kind="erasure", description="Erase me.")
    erasure_case = cases()[-1]
    client.post(f"/privacy/requests/{erasure_case.public_id}/erase", data={"confirm": "yes"})
    with app.app_context():
        outcome = carry_out_erasure(
            get_database(app), registry(), public_id=erasure_case.public_id, now=clock
        )
    assert outcome is not None
    with database.session_factory() as session:
        (move,) = session.scalars(sa.select(ContactRelink)).all()
        assert (move.from_customer_id, move.to_customer_id) == (None, keeper.id)
        assert "Kanarialintunen" not in move.reason
        kept = session.scalar(sa.select(Contact).where(Contact.public_id == contact_id))
        assert kept is not None
        assert kept.customer_id == keeper.id


def test_the_relink_search_reads_without_holding_the_writers_turn(
    client, logged_in, make_customer, register, cases, database
):
    wrong = make_customer(given_names="Matti", family_name="Meikäläinen")
    make_customer(given_names="Maija", family_name="Virtanen")
    logged_in("agent")
    contact_id = _contact_of(client, wrong)
    case = _rectification(client, logged_in, register, cases, wrong)
    relink_url = f"/privacy/requests/{case.public_id}/contacts/{contact_id}/relink"

    def is_name_search(statement: str) -> bool:
        return statement.lstrip().upper().startswith("SELECT") and (
            "name_key_family_first >=" in statement
        )

    with transactions_of(database, is_name_search) as seen:
        found = client.post(relink_url, data={"action": "search", "kind": "name", "value": "Virt"})
    assert found.status_code == 200
    assert "Virtanen" in found.get_data(as_text=True)
    # Read in a transaction that does not hold SQLite's writers' turn (none on PostgreSQL).
    assert seen
    assert all(held == (True, False) for held in seen)
