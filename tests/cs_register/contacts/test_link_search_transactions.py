"""The link form's customer search reads as the console search does: outside any write
transaction (on SQLite, without the writers' turn), its audit row committed on its own."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from tests.cs_register.contacts.origins_support import add_call
from tests.support.writer_lock import transactions_of


def _is_name_search(statement: str) -> bool:
    return statement.lstrip().upper().startswith("SELECT") and bool(
        re.search(r"name_key_(family|given)_first >=", statement)
    )


def _is_phone_search(statement: str) -> bool:
    return statement.lstrip().upper().startswith("SELECT") and bool(
        re.search(r"customers\.phone_e164 = ", statement)
    )


def test_the_link_forms_search_reads_without_holding_the_writers_turn(
    client, logged_in, make_customer, database, clock, db_session
):
    logged_in("agent")
    make_customer(given_names="Aino", family_name="Aaltonen")
    contact = add_call(database, number=None, at=clock.now - timedelta(hours=1))
    with transactions_of(database, _is_name_search) as seen:
        response = client.post(f"/contacts/{contact}/link", data={"kind": "name", "value": "aalt"})

    assert response.status_code == 200
    assert "Aaltonen" in response.get_data(as_text=True)
    # Both name keys read in a transaction that does not hold the writers' turn (PostgreSQL
    # has no such turn: False there too).
    assert seen == [(True, False), (True, False)]
    db_session.rollback()
    searched = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == AuditAction.CUSTOMER_SEARCHED)
    ).all()
    assert [event.details for event in searched] == [{"kind": "name", "results": 1}]


def test_a_refused_link_search_still_shows_the_contact_and_the_message(
    client, logged_in, database, clock
):
    logged_in("agent")
    contact = add_call(database, number=None, at=clock.now - timedelta(hours=1))
    response = client.post(f"/contacts/{contact}/link", data={"kind": "name", "value": "a"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "letters of the name" in html
    assert f"/contacts/{contact}/link" in html


def test_the_prefilled_link_form_searches_without_holding_the_writers_turn(
    client, logged_in, make_customer, database, clock, db_session
):
    """The form's first page searches by who the contact came from (here the caller's
    number): read as the typed search is, the viewing and the search audited after."""
    logged_in("agent")
    make_customer(given_names="Aino", family_name="Aaltonen", phone="+358401234567")
    contact = add_call(database, number="+358401234567", at=clock.now - timedelta(hours=1))
    with transactions_of(database, _is_phone_search) as seen:
        response = client.get(f"/contacts/{contact}/link")

    assert response.status_code == 200
    assert "Aaltonen" in response.get_data(as_text=True)
    assert seen
    assert all(held == (True, False) for held in seen)
    db_session.rollback()
    audited = db_session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action.in_([AuditAction.CONTACT_VIEWED, AuditAction.CUSTOMER_SEARCHED]))
        .order_by(AuditEvent.id)
    ).all()
    assert [(row.action, row.details) for row in audited] == [
        (AuditAction.CONTACT_VIEWED, {}),
        (AuditAction.CUSTOMER_SEARCHED, {"kind": "phone", "results": 1}),
    ]
