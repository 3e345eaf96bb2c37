"""The DPO's page: everything held about one person, audited, for the DPO alone."""

from __future__ import annotations

import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent

CODE = "131052-308T"


def review_events(database):
    with database.session_factory() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == AuditAction.PERSONAL_DATA_REVIEWED)
            )
        )


def test_the_dpo_sees_every_source_with_the_code_masked_and_the_review_is_audited(
    client, logged_in, make_customer, database
):
    customer = make_customer(identity_code=CODE, phone="0401234567", email="matti@example.fi")
    dpo = logged_in("dpo")
    response = client.get(f"/privacy/customers/{customer.public_id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Everything held about this person" in page
    assert "Matti Meikäläinen" in page
    assert "131052-****" in page
    assert CODE not in page
    # What the registry knows is kept where, and why.
    for table in ("customers", "contacts", "email_messages", "calls", "recordings"):
        assert f"<code>{table}</code>" in page
    assert "Recordings 3 months, holds up to 12" in page
    (event,) = review_events(database)
    assert (event.actor_id, event.subject_id) == (dpo.id, customer.public_id)
    assert event.details["findings"]["customers"] == 1


def test_other_roles_are_refused_and_nothing_is_audited(client, logged_in, make_customer, database):
    customer = make_customer()
    for role in ("agent", "supervisor", "admin"):
        logged_in(role)
        assert client.get(f"/privacy/customers/{customer.public_id}").status_code == 403
    assert review_events(database) == []


def test_an_unknown_customer_is_not_found(client, logged_in, database):
    logged_in("dpo")
    response = client.get("/privacy/customers/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert review_events(database) == []


def test_a_finnish_speaking_dpo_reads_the_registrys_texts_in_finnish(
    client, logged_in, make_customer
):
    customer = make_customer(identity_code=CODE)
    logged_in("dpo")
    client.post("/account/language", data={"language": "fi"})
    page = client.get(f"/privacy/customers/{customer.public_id}").get_data(as_text=True)
    # A category heading, a field label, a purpose and a retention text with its values,
    # all from the sources' registrations (marked with N_ or languages.Message).
    assert "<h2>Asiakastiedot <span" in page
    assert "<strong>Henkilötunnus:</strong>" in page
    assert "Asiakkaan tunnistaminen asiakaspalvelussa." in page
    assert "Tallenteet 3 kk, säilytyksen jatkolla enintään 12 kk" in page
    assert "<h2>Customer record" not in page
    assert "Identity code:" not in page
    assert "Identifying the customer in customer service." not in page
    assert "Recordings 3 months" not in page
    # The values stay as held.
    assert "131052-****" in page
