"""Contacts services: logging, the verification rules, time zones, linking, reading, audit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts import services
from cs_register.contacts.models import (
    Channel,
    Contact,
    Direction,
    IdentityVerification,
    VerificationOutcome,
)
from cs_register.customers.models import Customer
from cs_register.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tests.cs_register.contacts.support import audit_events, count_contacts
from tests.support.context import make_context

IDENTITY_CODE = "131052-308T"


def log(db_session, agent, clock, form, **kwargs):
    return services.log_contact(
        make_context(db_session, agent, clock.now, request_id="req-12345678"), form=form, **kwargs
    )


# --- logging -------------------------------------------------------------------------------


def test_contact_for_a_customer_is_linked_and_audited(
    db_session, agent, clock, contact_form, make_customer
):
    customer = make_customer(phone="040 123 4567")
    contact = log(db_session, agent, clock, contact_form(), customer_public_id=customer.public_id)
    db_session.commit()

    stored = db_session.get(Contact, contact.id)
    assert stored.customer_id == customer.id
    assert stored.handled_by_id == agent.id
    assert stored.created_by_id == agent.id
    assert stored.occurred_at == clock.now
    assert stored.subject == "Invoice question"
    assert stored.linked_at is None  # linked at creation, not through the linking procedure
    created = audit_events(db_session, AuditAction.CONTACT_CREATED)
    assert len(created) == 1
    assert created[0].subject_id == contact.public_id
    assert created[0].actor_id == agent.id
    assert created[0].request_id == "req-12345678"
    assert created[0].details == {
        "channel": "phone",
        "direction": "inbound",
        "linked": True,
        "customer": customer.public_id,
    }


def test_contact_without_customer_is_logged_unidentified(db_session, agent, clock, contact_form):
    contact = log(db_session, agent, clock, contact_form())
    db_session.commit()
    assert db_session.get(Contact, contact.id).customer_id is None
    [created] = audit_events(db_session, AuditAction.CONTACT_CREATED)
    assert created.details["linked"] is False
    assert "customer" not in created.details


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("direction", list(Direction))
def test_every_channel_and_direction_is_accepted(
    db_session, agent, clock, contact_form, channel, direction
):
    contact = log(
        db_session, agent, clock, contact_form(channel=channel.value, direction=direction.value)
    )
    db_session.commit()
    stored = db_session.get(Contact, contact.id)
    assert (stored.channel, stored.direction) == (channel, direction)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("channel", "fax"),
        ("channel", ""),
        ("direction", "sideways"),
        ("direction", ""),
        ("subject", ""),
        ("subject", "   "),
        ("subject", "x" * 201),
        ("subject", "bell\x07"),
        ("notes", "n" * 10_001),
        ("notes", "zero\u200bwidth"),
        ("occurred_at", "yesterday"),
        ("occurred_at", "2026-02-30T10:00"),
        ("occurred_at", "2026-11-23T10:00+02:00"),
        ("verification_outcome", "maybe"),
        ("verify_email", "perhaps"),
    ],
)
def test_invalid_fields_are_named_and_nothing_is_written(
    db_session, agent, clock, contact_form, field, value
):
    with pytest.raises(ValidationFailed) as failure:
        log(db_session, agent, clock, contact_form(**{field: value}))
    assert field in failure.value.errors
    db_session.commit()
    assert count_contacts(db_session) == 0
    assert audit_events(db_session, AuditAction.CONTACT_CREATED) == []


def test_all_problems_are_reported_together(db_session, agent, clock, contact_form):
    form = contact_form(channel="fax", direction="", subject="", verify_name="1")
    with pytest.raises(ValidationFailed) as failure:
        log(db_session, agent, clock, form)
    assert set(failure.value.errors) == {"channel", "direction", "subject", "verification_outcome"}


def test_subject_is_nfc_normalised_and_notes_keep_their_lines(
    db_session, agent, clock, contact_form
):
    decomposed = "Ha\u0308iriö  laskussa"  # "ä" as a plus combining diaeresis, double space
    contact = log(
        db_session, agent, clock, contact_form(subject=decomposed, notes="line one\r\nline two ")
    )
    assert contact.subject == "Häiriö laskussa"
    assert contact.notes == "line one\nline two"


def test_notes_may_be_empty_and_exactly_at_the_limit(db_session, agent, clock, contact_form):
    assert log(db_session, agent, clock, contact_form(notes="")).notes == ""
    assert len(log(db_session, agent, clock, contact_form(notes="n" * 10_000)).notes) == 10_000


def test_unknown_customer_is_not_found_and_nothing_is_written(
    db_session, agent, clock, contact_form
):
    with pytest.raises(NotFound):
        log(db_session, agent, clock, contact_form(), customer_public_id="no-such-customer")
    db_session.commit()
    assert count_contacts(db_session) == 0
    assert audit_events(db_session, AuditAction.CONTACT_CREATED) == []


# --- time of contact -----------------------------------------------------------------------


def test_winter_time_is_helsinki_utc_plus_two(db_session, agent, clock, contact_form):
    clock.set(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    contact = log(db_session, agent, clock, contact_form(occurred_at="2026-01-15T10:30"))
    assert contact.occurred_at == datetime(2026, 1, 15, 8, 30, tzinfo=UTC)


def test_summer_time_is_helsinki_utc_plus_three(db_session, agent, clock, contact_form):
    clock.set(datetime(2026, 7, 15, 12, 0, tzinfo=UTC))
    contact = log(db_session, agent, clock, contact_form(occurred_at="2026-07-15T10:30"))
    db_session.commit()
    db_session.expire_all()
    # Read back from the database: the stored value is the UTC instant, on both databases.
    stored = db_session.get(Contact, contact.id)
    assert stored.occurred_at == datetime(2026, 7, 15, 7, 30, tzinfo=UTC)


def test_seconds_from_the_browser_are_accepted(db_session, agent, clock, contact_form):
    contact = log(db_session, agent, clock, contact_form(occurred_at="2026-11-23T10:15:30"))
    assert contact.occurred_at == datetime(2026, 11, 23, 8, 15, 30, tzinfo=UTC)


def test_hour_skipped_by_summer_time_is_refused(db_session, agent, clock, contact_form):
    clock.set(datetime(2026, 3, 29, 12, 0, tzinfo=UTC))
    with pytest.raises(ValidationFailed) as failure:
        log(db_session, agent, clock, contact_form(occurred_at="2026-03-29T03:30"))
    assert "does not exist" in failure.value.errors["occurred_at"][0]


def test_hour_repeated_when_summer_time_ends_is_read_as_the_first_one(
    db_session, agent, clock, contact_form
):
    clock.set(datetime(2026, 10, 25, 12, 0, tzinfo=UTC))
    contact = log(db_session, agent, clock, contact_form(occurred_at="2026-10-25T03:30"))
    assert contact.occurred_at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_future_time_is_refused_beyond_five_minutes(db_session, agent, clock, contact_form):
    # START is 09:00 UTC = 11:00 in Helsinki (winter time).
    accepted = log(db_session, agent, clock, contact_form(occurred_at="2026-11-23T11:05"))
    assert accepted.occurred_at == clock.now + timedelta(minutes=5)
    with pytest.raises(ValidationFailed) as failure:
        log(db_session, agent, clock, contact_form(occurred_at="2026-11-23T11:06"))
    assert failure.value.errors["occurred_at"] == ["Time of contact cannot be in the future."]


def test_time_more_than_a_year_ago_is_refused(db_session, agent, clock, contact_form):
    log(db_session, agent, clock, contact_form(occurred_at="2025-11-24T11:00"))
    with pytest.raises(ValidationFailed) as failure:
        log(db_session, agent, clock, contact_form(occurred_at="2025-11-22T11:00"))
    assert "more than a year ago" in failure.value.errors["occurred_at"][0]


# --- verification panel --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "ticked"),
    [
        ("not_attempted", ["name"]),
        ("not_attempted", ["name", "email", "phone", "identity_code", "address"]),
        ("", ["phone"]),  # no outcome chosen means "not attempted"
        ("verified", []),
        ("failed", []),
    ],
)
def test_outcome_must_match_the_ticked_identifiers(
    db_session, agent, clock, contact_form, outcome, ticked
):
    form = contact_form(verification_outcome=outcome, **{f"verify_{name}": "1" for name in ticked})
    with pytest.raises(ValidationFailed) as failure:
        log(db_session, agent, clock, form)
    assert list(failure.value.errors) == ["verification_outcome"]
    db_session.commit()
    assert count_contacts(db_session) == 0
    assert db_session.scalar(sa.select(sa.func.count()).select_from(IdentityVerification)) == 0


@pytest.mark.parametrize(
    ("outcome", "ticked"),
    [
        ("not_attempted", []),
        ("verified", ["name", "identity_code"]),
        ("failed", ["phone"]),
        ("verified", ["name", "email", "phone", "identity_code", "address"]),
    ],
)
def test_consistent_panel_is_recorded_and_audited(
    db_session, agent, clock, contact_form, outcome, ticked
):
    form = contact_form(verification_outcome=outcome, **{f"verify_{name}": "1" for name in ticked})
    contact = log(db_session, agent, clock, form)
    db_session.commit()
    [verification] = db_session.get(Contact, contact.id).verifications
    assert verification.outcome is VerificationOutcome(outcome)
    assert verification.checked == ticked
    assert verification.verified_by_id == agent.id
    assert verification.verified_at == clock.now
    [event] = audit_events(db_session, AuditAction.IDENTITY_VERIFIED)
    assert event.subject_id == contact.public_id
    assert event.details == {"outcome": outcome, "checked": ticked}


def test_verification_can_be_recorded_before_the_contact_is_linked(
    db_session, agent, clock, contact_form
):
    contact = log(
        db_session, agent, clock, contact_form(verification_outcome="verified", verify_phone="1")
    )
    assert contact.customer_id is None
    assert contact.verifications[0].outcome is VerificationOutcome.VERIFIED


def test_later_verification_is_added_and_audited(db_session, agent, clock, contact_form):
    contact = log(db_session, agent, clock, contact_form())
    clock.advance(timedelta(minutes=10))
    row = services.record_verification(
        make_context(db_session, agent, clock.now, request_id=None),
        contact_public_id=contact.public_id,
        form={"verification_outcome": "failed", "verify_identity_code": "1"},
    )
    db_session.commit()
    assert row.checked == ["identity_code"]
    assert row.verified_at == clock.now
    outcomes = [v.outcome for v in db_session.get(Contact, contact.id).verifications]
    assert outcomes == [VerificationOutcome.NOT_ATTEMPTED, VerificationOutcome.FAILED]
    events = audit_events(db_session, AuditAction.IDENTITY_VERIFIED)
    assert [event.details["outcome"] for event in events] == ["not_attempted", "failed"]


@pytest.mark.parametrize(
    "form",
    [
        {"verification_outcome": "not_attempted"},
        {"verification_outcome": "not_attempted", "verify_name": "1"},
        {"verification_outcome": ""},
        {"verification_outcome": "verified"},
        {"verification_outcome": "bogus", "verify_name": "1"},
    ],
)
def test_later_verification_follows_the_rules(db_session, agent, clock, contact_form, form):
    contact = log(db_session, agent, clock, contact_form())
    db_session.commit()
    with pytest.raises(ValidationFailed) as failure:
        services.record_verification(
            make_context(db_session, agent, clock.now, request_id=None),
            contact_public_id=contact.public_id,
            form=form,
        )
    assert "verification_outcome" in failure.value.errors
    db_session.rollback()
    assert len(db_session.get(Contact, contact.id).verifications) == 1


def test_later_verification_on_unknown_contact_is_not_found(db_session, agent, clock):
    with pytest.raises(NotFound):
        services.record_verification(
            make_context(db_session, agent, clock.now, request_id=None),
            contact_public_id="nope",
            form={"verification_outcome": "verified", "verify_name": "1"},
        )


# --- last contact ----------------------------------------------------------------------------


def test_last_contact_at_only_moves_forward(db_session, agent, clock, contact_form, make_customer):
    customer = make_customer()
    public_id = customer.public_id
    log(
        db_session,
        agent,
        clock,
        contact_form(occurred_at="2026-11-23T10:00"),
        customer_public_id=public_id,
    )
    log(
        db_session,
        agent,
        clock,
        contact_form(occurred_at="2026-11-20T10:00"),
        customer_public_id=public_id,
    )
    db_session.commit()
    stored = db_session.scalar(sa.select(Customer).where(Customer.public_id == public_id))
    assert stored.last_contact_at == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


# --- linking ---------------------------------------------------------------------------------


def test_link_sets_customer_and_audits(db_session, agent, clock, contact_form, make_customer):
    customer = make_customer()
    contact = log(db_session, agent, clock, contact_form(occurred_at="2026-11-23T10:00"))
    clock.advance(timedelta(hours=2))
    services.link_contact(
        make_context(db_session, agent, clock.now, request_id="req-link-0001"),
        contact_public_id=contact.public_id,
        customer_public_id=customer.public_id,
    )
    db_session.commit()
    stored = db_session.get(Contact, contact.id)
    assert stored.customer_id == customer.id
    assert stored.linked_at == clock.now
    assert stored.linked_by_id == agent.id
    # The customer's last contact is when the contact happened, not when it was linked.
    assert db_session.get(Customer, customer.id).last_contact_at == datetime(
        2026, 11, 23, 8, 0, tzinfo=UTC
    )
    [event] = audit_events(db_session, AuditAction.CONTACT_LINKED)
    assert event.subject_id == contact.public_id
    assert event.details == {"customer": customer.public_id}
    assert event.request_id == "req-link-0001"


def test_relinking_to_someone_else_is_a_conflict(
    db_session, agent, clock, contact_form, make_customer
):
    first, second = make_customer(given_names="Eka"), make_customer(given_names="Toka")
    contact = log(db_session, agent, clock, contact_form(), customer_public_id=first.public_id)
    db_session.commit()
    with pytest.raises(Conflict):
        services.link_contact(
            make_context(db_session, agent, clock.now),
            contact_public_id=contact.public_id,
            customer_public_id=second.public_id,
        )
    db_session.rollback()
    assert db_session.get(Contact, contact.id).customer_id == first.id
    assert audit_events(db_session, AuditAction.CONTACT_LINKED) == []


def test_linking_again_to_the_same_customer_changes_nothing(
    db_session, agent, clock, contact_form, make_customer
):
    customer = make_customer()
    contact = log(db_session, agent, clock, contact_form())
    for _ in range(2):
        services.link_contact(
            make_context(db_session, agent, clock.now),
            contact_public_id=contact.public_id,
            customer_public_id=customer.public_id,
        )
    db_session.commit()
    assert len(audit_events(db_session, AuditAction.CONTACT_LINKED)) == 1


def test_link_to_unknown_customer_or_contact_is_not_found(
    db_session, agent, clock, contact_form, make_customer
):
    customer = make_customer()  # before the test session starts writing (SQLite locks)
    contact = log(db_session, agent, clock, contact_form())
    with pytest.raises(NotFound):
        services.link_contact(
            make_context(db_session, agent, clock.now),
            contact_public_id=contact.public_id,
            customer_public_id="missing",
        )
    with pytest.raises(NotFound):
        services.link_contact(
            make_context(db_session, agent, clock.now),
            contact_public_id="missing",
            customer_public_id=customer.public_id,
        )
    assert contact.customer_id is None


# --- reading ---------------------------------------------------------------------------------


def test_view_contact_is_audited(db_session, agent, clock, contact_form):
    contact = log(db_session, agent, clock, contact_form())
    viewed = services.view_contact(
        make_context(db_session, agent, clock.now, request_id="r-000001"),
        public_id=contact.public_id,
    )
    db_session.commit()
    assert viewed.id == contact.id
    [event] = audit_events(db_session, AuditAction.CONTACT_VIEWED)
    assert (event.subject_type, event.subject_id) == ("contact", contact.public_id)
    with pytest.raises(NotFound):
        services.view_contact(make_context(db_session, agent, clock.now), public_id="missing")


def test_unlinked_queue_lists_only_unlinked_contacts_oldest_first(
    db_session, agent, clock, contact_form, make_customer
):
    customer = make_customer()
    newer = log(db_session, agent, clock, contact_form(occurred_at="2026-11-23T10:00"))
    older = log(db_session, agent, clock, contact_form(occurred_at="2026-11-22T10:00"))
    log(db_session, agent, clock, contact_form(), customer_public_id=customer.public_id)
    linked_later = log(db_session, agent, clock, contact_form(occurred_at="2026-11-21T10:00"))
    services.link_contact(
        make_context(db_session, agent, clock.now),
        contact_public_id=linked_later.public_id,
        customer_public_id=customer.public_id,
    )
    queue = services.list_unlinked_contacts(make_context(db_session, agent, None))
    assert [contact.id for contact in queue] == [older.id, newer.id]
    assert services.list_unlinked_contacts(make_context(db_session, agent, None), limit=1) == [
        older
    ]


# --- roles -----------------------------------------------------------------------------------


def test_admin_can_neither_log_nor_link_nor_read(
    db_session, agent, actor_in, clock, contact_form, make_customer
):
    admin = actor_in("admin")
    customer = make_customer()
    contact = log(db_session, agent, clock, contact_form())
    with pytest.raises(PermissionDenied):
        log(db_session, admin, clock, contact_form())
    with pytest.raises(PermissionDenied):
        services.link_contact(
            make_context(db_session, admin, clock.now),
            contact_public_id=contact.public_id,
            customer_public_id=customer.public_id,
        )
    with pytest.raises(PermissionDenied):
        services.record_verification(
            make_context(db_session, admin, clock.now),
            contact_public_id=contact.public_id,
            form={"verification_outcome": "verified", "verify_name": "1"},
        )
    with pytest.raises(PermissionDenied):
        services.view_contact(
            make_context(db_session, admin, clock.now), public_id=contact.public_id
        )
    with pytest.raises(PermissionDenied):
        services.list_unlinked_contacts(make_context(db_session, admin, None))
    assert count_contacts(db_session) == 1


def test_data_protection_officer_reads_but_does_not_log(
    db_session, agent, actor_in, clock, contact_form
):
    dpo = actor_in("dpo")
    contact = log(db_session, agent, clock, contact_form())
    assert (
        services.view_contact(make_context(db_session, dpo, clock.now), public_id=contact.public_id)
        is contact
    )
    with pytest.raises(PermissionDenied):
        log(db_session, dpo, clock, contact_form())


def test_supervisor_can_log_contacts(db_session, actor_in, clock, contact_form):
    supervisor = actor_in("supervisor")
    assert log(db_session, supervisor, clock, contact_form()).handled_by_id == supervisor.id


# --- one transaction -------------------------------------------------------------------------


def test_contact_and_audit_rows_commit_together(database, agent, clock, contact_form):
    with database.unit_of_work() as session:
        contact = log(session, session.merge(agent), clock, contact_form())
    with database.unit_of_work() as session:
        assert session.scalar(sa.select(Contact).where(Contact.public_id == contact.public_id))
        actions = [
            event.action for event in audit_events(session) if event.subject_id == contact.public_id
        ]
    assert actions == [AuditAction.CONTACT_CREATED, AuditAction.IDENTITY_VERIFIED]


def test_failure_after_logging_rolls_back_contact_and_audit_rows(
    database, agent, clock, contact_form, monkeypatch
):
    real_record = audit.record

    def fail_on_verification(ctx, action, *args, **kwargs):
        if action is AuditAction.IDENTITY_VERIFIED:
            raise RuntimeError("disk full")
        return real_record(ctx, action, *args, **kwargs)

    monkeypatch.setattr(audit, "record", fail_on_verification)
    with pytest.raises(RuntimeError), database.unit_of_work() as session:
        log(session, session.merge(agent), clock, contact_form())
    with database.unit_of_work() as session:
        # The contact and its CONTACT_CREATED row had been flushed; both are gone.
        assert count_contacts(session) == 0
        assert audit_events(session, AuditAction.CONTACT_CREATED) == []


def test_failure_while_linking_rolls_back_the_link(
    database, agent, clock, contact_form, make_customer, monkeypatch
):
    customer = make_customer()
    with database.unit_of_work() as session:
        contact = log(session, session.merge(agent), clock, contact_form())

    def broken_audit(ctx, action, *args, **kwargs):
        raise RuntimeError("audit unavailable")

    monkeypatch.setattr(audit, "record", broken_audit)
    with pytest.raises(RuntimeError), database.unit_of_work() as session:
        services.link_contact(
            make_context(session, session.merge(agent), clock.now),
            contact_public_id=contact.public_id,
            customer_public_id=customer.public_id,
        )
    with database.unit_of_work() as session:
        stored = session.scalar(sa.select(Contact).where(Contact.public_id == contact.public_id))
        assert stored.customer_id is None
        assert stored.linked_at is None
        assert session.get(Customer, customer.id).last_contact_at is None


# --- no personal data in the audit trail -----------------------------------------------------


def test_audit_details_hold_no_personal_data(db_session, agent, clock, contact_form, make_customer):
    customer = make_customer(
        given_names="Maija",
        family_name="Mehiläinen",
        phone="040 123 4567",
        email="maija.mehilainen@example.fi",
        identity_code=IDENTITY_CODE,
        street_address="Kauppakatu 1",
        postal_code="00100",
        city="Helsinki",
    )
    form = contact_form(
        verification_outcome="verified",
        **{f"verify_{name}": "1" for name in ("name", "email", "phone", "identity_code")},
    )
    linked = log(db_session, agent, clock, form, customer_public_id=customer.public_id)
    unlinked = log(db_session, agent, clock, contact_form())
    services.link_contact(
        make_context(db_session, agent, clock.now),
        contact_public_id=unlinked.public_id,
        customer_public_id=customer.public_id,
    )
    services.record_verification(
        make_context(db_session, agent, clock.now),
        contact_public_id=linked.public_id,
        form={"verification_outcome": "failed", "verify_address": "1"},
    )
    services.view_contact(make_context(db_session, agent, clock.now), public_id=linked.public_id)
    db_session.commit()

    events = [e for e in audit_events(db_session) if e.subject_type == "contact"]
    assert {e.action for e in events} == {
        AuditAction.CONTACT_CREATED,
        AuditAction.IDENTITY_VERIFIED,
        AuditAction.CONTACT_LINKED,
        AuditAction.CONTACT_VIEWED,
    }
    dumped = json.dumps([e.details for e in events], ensure_ascii=False).lower()
    for personal in (
        "maija",
        "mehiläinen",
        "mehilainen",
        "0401234567",
        "+358401234567",
        "040 123 4567",
        "example.fi",
        IDENTITY_CODE.lower(),
        "131052",
        "kauppakatu",
        "00100",
        "helsinki",
        "invoice",
        "november",
    ):
        assert personal not in dumped


def test_public_ids_that_resemble_identity_codes_are_accepted_in_audit_details(
    db_session, agent, clock, contact_form, make_customer
):
    # Random UUIDs now and then contain a run like "131052a308f"; linking must not fail on it.
    lookalike = "3f2b8c1e-9d4a-4b7c-8e21-131052a308f0"
    customer = make_customer()
    db_session.execute(
        sa.update(Customer).where(Customer.id == customer.id).values(public_id=lookalike)
    )
    contact = log(db_session, agent, clock, contact_form(), customer_public_id=lookalike)
    unlinked = log(db_session, agent, clock, contact_form())
    services.link_contact(
        make_context(db_session, agent, clock.now),
        contact_public_id=unlinked.public_id,
        customer_public_id=lookalike,
    )
    db_session.commit()
    assert db_session.get(Contact, contact.id).customer_id == customer.id
    assert audit_events(db_session, AuditAction.CONTACT_LINKED)[0].details == {
        "customer": lookalike
    }


@pytest.mark.parametrize("field", ["subject", "notes"])
def test_identity_codes_are_refused_in_clear_text_fields(
    db_session, agent, clock, contact_form, field
):
    form = contact_form(**{field: f"Caller gave {IDENTITY_CODE} over the phone"})
    with pytest.raises(ValidationFailed) as failure:
        log(db_session, agent, clock, form)
    assert list(failure.value.errors) == [field]
    assert IDENTITY_CODE not in " ".join(failure.value.errors[field])
    assert count_contacts(db_session) == 0
