"""Editing a logged contact's subject and notes: the service's rules, its history and audit,
the console form (refusals, a concurrent change), and the personal-data registry."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction
from cs_register.contacts import editing
from cs_register.contacts.models import Contact, ContactRevision
from cs_register.contacts.personal_data import REVISION
from cs_register.contacts.services import log_contact
from cs_register.customers.models import Customer
from cs_register.customers.personal_data import data_subject
from cs_register.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from cs_register.integrations import services as token_services
from cs_register.personal_data import registry
from tests.cs_register.contacts.support import audit_events
from tests.support.context import make_context
from tests.support.telephony import Api

IDENTITY_CODE = "131052-308T"


@pytest.fixture
def logged(db_session, agent, clock, contact_form, make_customer):
    """A contact the agent logged for a customer, committed."""
    customer = make_customer()
    ctx = make_context(db_session, agent, clock.now)
    contact = log_contact(ctx, form=contact_form(), customer_public_id=customer.public_id)
    db_session.commit()
    return contact


def edit(db_session, actor, clock, contact, **fields):
    values = {"subject": contact.subject, "notes": contact.notes, "revision": "0"} | fields
    ctx = make_context(db_session, actor, clock.now, request_id="req-edit")
    return editing.edit_contact(ctx, contact_public_id=contact.public_id, **values)


def revisions(db_session) -> list[ContactRevision]:
    return list(db_session.scalars(sa.select(ContactRevision).order_by(ContactRevision.id)))


# --- the service ---------------------------------------------------------------------------


def test_an_edit_keeps_the_text_before_and_after_and_audits_the_fields_only(
    db_session, agent, clock, logged
):
    changed = edit(db_session, agent, clock, logged, notes="Invoice paid twice; refund agreed.")
    db_session.commit()

    assert changed == ["notes"]
    stored = db_session.get(Contact, logged.id)
    assert stored.notes == "Invoice paid twice; refund agreed."
    assert stored.subject == "Invoice question"
    [revision] = revisions(db_session)
    assert (revision.field, revision.old_value, revision.new_value) == (
        "notes",
        "Asked about the November invoice.",
        "Invoice paid twice; refund agreed.",
    )
    assert (revision.changed_by_id, revision.changed_at) == (agent.id, clock.now)
    [event] = audit_events(db_session, AuditAction.CONTACT_EDITED)
    assert event.subject_id == logged.public_id
    assert event.request_id == "req-edit"
    # The text itself is personal data: the audit row names the field, never its content.
    assert event.details == {"fields": ["notes"]}


def test_both_fields_changed_give_two_history_rows_and_one_audit_row(
    db_session, agent, clock, logged
):
    changed = edit(db_session, agent, clock, logged, subject="Refund", notes="Refund agreed.")
    db_session.commit()

    assert changed == ["subject", "notes"]
    assert [r.field for r in revisions(db_session)] == ["subject", "notes"]
    assert len(audit_events(db_session, AuditAction.CONTACT_EDITED)) == 1
    assert editing.revision_count(db_session, logged.id) == 2


def test_saving_the_same_text_writes_nothing(db_session, agent, clock, logged):
    assert edit(db_session, agent, clock, logged) == []
    db_session.commit()
    assert revisions(db_session) == []
    assert audit_events(db_session, AuditAction.CONTACT_EDITED) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("notes", f"Customer's code is {IDENTITY_CODE}"),
        ("subject", f"Code {IDENTITY_CODE}"),
        ("subject", ""),
        ("subject", "x" * 201),
        ("notes", "bell\x07"),
    ],
)
def test_a_refused_edit_changes_nothing(db_session, agent, clock, logged, field, value):
    with pytest.raises(ValidationFailed) as refused:
        edit(db_session, agent, clock, logged, **{field: value})
    db_session.rollback()

    assert field in refused.value.errors
    assert IDENTITY_CODE not in str(refused.value.errors)
    stored = db_session.get(Contact, logged.id)
    assert (stored.subject, stored.notes) == (logged.subject, logged.notes)
    assert revisions(db_session) == []


@pytest.mark.parametrize("revision", ["", "-1", "²", "1" * 40, "abc"])
def test_a_malformed_revision_is_refused(db_session, agent, clock, logged, revision):
    with pytest.raises(ValidationFailed) as refused:
        edit(db_session, agent, clock, logged, notes="New", revision=revision)
    assert "revision" in refused.value.errors


def test_an_edit_made_on_a_stale_form_is_refused(db_session, agent, actor_in, clock, logged):
    colleague = actor_in("agent", username="ville.agent")
    edit(db_session, colleague, clock, logged, notes="Colleague's note.")
    db_session.commit()

    # The agent opened the form before the colleague saved (revision 0).
    with pytest.raises(Conflict):
        edit(db_session, agent, clock, logged, notes="My note.", revision="0")
    db_session.rollback()
    assert db_session.get(Contact, logged.id).notes == "Colleague's note."

    # Having seen the colleague's change (revision 1), saving is a deliberate choice.
    assert edit(db_session, agent, clock, logged, notes="My note.", revision="1") == ["notes"]


def test_roles_without_contact_logging_cannot_edit(db_session, actor_in, clock, logged):
    for role in ("admin", "dpo"):
        with pytest.raises(PermissionDenied):
            edit(db_session, actor_in(role), clock, logged, notes="No.")


def test_a_restricted_customers_contact_does_not_exist_for_an_agent(
    db_session, agent, clock, logged
):
    customer = db_session.get(Customer, logged.customer_id)
    customer.restricted_at = clock.now
    db_session.commit()
    with pytest.raises(NotFound):
        edit(db_session, agent, clock, logged, notes="Hidden.")


def test_the_registry_finds_the_corrections_with_their_text(app, db_session, agent, clock, logged):
    edit(db_session, agent, clock, logged, notes="Refund agreed.")
    db_session.commit()
    customer = db_session.get(Customer, logged.customer_id)
    ctx = make_context(db_session, agent, clock.now)

    found = [
        f for f in registry(app).find(ctx, data_subject(customer)) if f.table == REVISION.table
    ]

    [finding] = found
    assert finding.category == "Correction of a contact"
    assert dict(finding.fields) == {
        "Field": "Notes",
        "Before": "Asked about the November invoice.",
        "After": "Refund agreed.",
    }


# --- the console -----------------------------------------------------------------------------


def test_an_agent_completes_a_contact_the_pbx_created(
    client, logged_in, database, clock, make_customer
):
    make_customer(phone="0401234567")
    with database.unit_of_work() as session:
        _, raw = token_services.create_token(make_context(session, None, clock.now), name="pbx")
    Api(client, raw, clock).new_call(customer_number="+358401234567")
    with database.session_factory() as session:
        contact = session.scalars(sa.select(Contact)).one()
    logged_in("agent")

    page = client.get(f"/contacts/{contact.public_id}")
    assert f'href="/contacts/{contact.public_id}/edit"' in page.get_data(as_text=True)
    form = client.get(f"/contacts/{contact.public_id}/edit")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert 'name="csrf_token"' in html
    assert 'name="revision" value="0"' in html

    saved = client.post(
        f"/contacts/{contact.public_id}/edit",
        data={"subject": "Card blocked", "notes": "Blocked the lost card.", "revision": "0"},
    )
    assert saved.status_code == 303
    assert saved.headers["Location"].endswith(f"/contacts/{contact.public_id}")
    shown = client.get(f"/contacts/{contact.public_id}").get_data(as_text=True)
    assert "Contact saved." in shown
    assert 'id="contact-changes"' in shown
    assert "Blocked the lost card." in shown
    with database.session_factory() as session:
        stored = session.get(Contact, contact.id)
        assert (stored.subject, stored.notes) == ("Card blocked", "Blocked the lost card.")
        assert session.scalar(sa.select(sa.func.count()).select_from(Contact)) == 1


def test_a_refused_edit_keeps_what_was_typed_without_the_code(client, logged_in, database, logged):
    logged_in("agent")
    typed = f"Customer said their code is {IDENTITY_CODE}, refund agreed."
    response = client.post(
        f"/contacts/{logged.public_id}/edit",
        data={"subject": "Refund", "notes": typed, "revision": "0"},
    )

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "must not contain an identity code" in html
    assert IDENTITY_CODE not in html
    assert "refund agreed." in html  # the rest of what was typed is not lost
    assert 'value="Refund"' in html
    with database.session_factory() as session:
        assert session.get(Contact, logged.id).notes == "Asked about the November invoice."
        assert session.scalar(sa.select(sa.func.count()).select_from(ContactRevision)) == 0


def test_a_concurrent_change_is_shown_and_the_typed_text_kept(
    client, logged_in, database, db_session, actor_in, clock, logged
):
    colleague = actor_in("supervisor", username="sari.supervisor")
    edit(db_session, colleague, clock, logged, notes="Supervisor's note.")
    db_session.commit()
    logged_in("agent")

    response = client.post(
        f"/contacts/{logged.public_id}/edit",
        data={"subject": logged.subject, "notes": "Agent's note.", "revision": "0"},
    )

    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'id="edit-conflict"' in html
    assert "Supervisor&#39;s note." in html  # their saved version
    assert "Agent&#39;s note." in html  # what the agent typed, still in the form
    assert 'name="revision" value="1"' in html
    again = client.post(
        f"/contacts/{logged.public_id}/edit",
        data={"subject": logged.subject, "notes": "Agent's note.", "revision": "1"},
    )
    assert again.status_code == 303
    with database.session_factory() as session:
        assert session.get(Contact, logged.id).notes == "Agent's note."


def test_the_edit_page_is_not_offered_to_roles_that_cannot_edit(client, logged_in, logged):
    logged_in("dpo")
    page = client.get(f"/contacts/{logged.public_id}").get_data(as_text=True)
    assert "/edit" not in page
    assert client.get(f"/contacts/{logged.public_id}/edit").status_code == 403


def test_the_subject_of_a_long_transcript_can_be_corrected(db_session, agent, clock):
    from cs_register.contacts.incoming import record_incoming_contact
    from cs_register.contacts.models import Channel, Direction

    transcript = "\n".join(
        f"Customer: question {n}, soft\u00adhyphen " + "x" * 60 for n in range(300)
    )
    assert len(transcript) > 10_000
    ctx = make_context(db_session, None, clock.now)
    incoming = record_incoming_contact(
        ctx,
        channel=Channel.CHATBOT,
        direction=Direction.INBOUND,
        occurred_at=clock.now,
        subject="Chat",
        notes=transcript,
        customer_id=None,
    )
    db_session.commit()
    contact = db_session.get(Contact, incoming.id)

    # The form sends the notes back as the browser does (CRLF line breaks), unchanged.
    sent_back = transcript.replace("\n", "\r\n")
    changed = edit(db_session, agent, clock, contact, subject="Card blocked", notes=sent_back)
    db_session.commit()

    assert changed == ["subject"]
    stored = db_session.get(Contact, incoming.id)
    assert (stored.subject, stored.notes) == ("Card blocked", transcript)
