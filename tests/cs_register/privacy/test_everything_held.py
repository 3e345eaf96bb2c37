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
