"""The customer page offers the unidentified contacts that carry the customer's phone or
email: after creating them, after correcting their phone or email, each linked with one click
through the audited link service; a contact held for a restricted customer is never offered to
an agent."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.contacts.models import Contact
from cs_register.customers import restriction
from cs_register.customers.models import Customer
from tests.cs_register.contacts.origins_support import add_call, add_chat, add_email
from tests.support.context import make_context

PANEL = "Unidentified contacts that may be this customer's"
NUMBER = "+358401234567"


def offered_section(html: str) -> str:
    """The offer panel's HTML, or "" when the page has none."""
    start = html.find('id="offered-contacts"')
    if start < 0:
        return ""
    return html[start : html.index("</section>", start)]


def create(client, **fields: str):
    form = {"given_names": "Liisa", "family_name": "Laine", **fields}
    return client.post("/customers/new", data=form)


def test_creating_a_customer_offers_the_contacts_from_their_phone_and_email(
    client, logged_in, database, clock
):
    at = clock.now - timedelta(hours=3)
    call = add_call(database, number=NUMBER, at=at, subject="Called about an invoice")
    email = add_email(database, sender="liisa@example.fi", at=at, subject="Wrote about it")
    chat = add_chat(database, email=None, phone=NUMBER, at=at, subject="Chatted about it")
    other = add_call(database, number="+358409999999", at=at, subject="Someone else")
    logged_in("agent")
    response = create(client, phone="040 123 4567", email="Liisa@Example.fi")
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert PANEL in html
    panel = offered_section(html)
    for public_id in (call, email, chat):
        assert f"/contacts/{public_id}/link" in panel
    assert other not in panel
    assert "Called about an invoice" in panel
    assert "040 1234567" in panel
    assert "liisa@example.fi" in panel
    assert "23.11.2026 08:00" in panel  # 06:00 UTC, Helsinki time
    assert panel.count('name="csrf_token"') == 3


def test_no_panel_when_nothing_waits(client, logged_in, database, clock):
    add_call(database, number="+358409999999", at=clock.now)
    logged_in("agent")
    response = create(client, phone="040 123 4567")
    assert PANEL not in client.get(response.headers["Location"]).get_data(as_text=True)


def test_correcting_the_phone_or_email_offers_the_contacts_from_the_new_one(
    client, logged_in, database, clock, make_customer
):
    customer = make_customer(phone="040 765 4321")
    call = add_call(database, number=NUMBER, at=clock.now, subject="From the new number")
    email = add_email(database, sender="new@example.fi", at=clock.now, subject="From the new mail")
    logged_in("agent")
    page = client.get(f"/customers/{customer.public_id}").get_data(as_text=True)
    assert PANEL not in page
    edit = {
        "given_names": "Matti",
        "family_name": "Meikäläinen",
        "phone": "040 123 4567",
        "reason": "The customer has a new number",
    }
    response = client.post(f"/customers/{customer.public_id}/edit", data=edit)
    assert response.status_code == 302
    panel = offered_section(client.get(response.headers["Location"]).get_data(as_text=True))
    assert call in panel
    assert email not in panel
    response = client.post(
        f"/customers/{customer.public_id}/edit",
        data={**edit, "email": "new@example.fi", "reason": "And a new address"},
    )
    panel = offered_section(client.get(response.headers["Location"]).get_data(as_text=True))
    assert call in panel
    assert email in panel


def test_linking_from_the_offer_goes_through_the_audited_link(
    client, logged_in, database, clock, db_session
):
    call = add_call(database, number=NUMBER, at=clock.now - timedelta(hours=1))
    agent = logged_in("agent")
    location = create(client, phone="040 123 4567").headers["Location"]
    customer = db_session.scalars(sa.select(Customer)).one()
    response = client.post(
        f"/contacts/{call}/link",
        data={"action": "link", "customer": customer.public_id, "back": "customer"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == location
    html = client.get(location).get_data(as_text=True)
    assert "Contact linked to this customer." in html
    assert PANEL not in html  # linked: no longer offered, now in the timeline
    assert f"/contacts/{call}" in html
    contact = db_session.scalars(sa.select(Contact).where(Contact.public_id == call)).one()
    assert contact.customer_id == customer.id
    assert contact.linked_by_id == agent.id
    [event] = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == AuditAction.CONTACT_LINKED)
    ).all()
    assert event.details == {"customer": customer.public_id}


def test_a_contact_held_for_a_restricted_customer_is_not_offered_to_an_agent(
    client, logged_in, database, clock, make_customer, make_staff
):
    restricted = make_customer(given_names="Rauha", phone=NUMBER)
    with database.unit_of_work() as session:
        restriction.restrict(
            make_context(session, make_staff("dpo"), clock.now),
            customer_public_id=restricted.public_id,
            reason="Rectification pending",
        )
    held = add_call(database, number=NUMBER, at=clock.now, held_for=restricted.id)
    logged_in("agent")
    html = client.get(create(client, phone="040 123 4567").headers["Location"]).get_data(
        as_text=True
    )
    assert held not in html
    assert PANEL not in html


def test_the_dpo_who_links_no_contacts_gets_no_offer(
    client, logged_in, database, clock, make_customer
):
    customer = make_customer(phone=NUMBER)
    add_call(database, number=NUMBER, at=clock.now)
    logged_in("dpo")
    html = client.get(f"/customers/{customer.public_id}").get_data(as_text=True)
    assert PANEL not in html
