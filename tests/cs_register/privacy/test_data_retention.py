"""Contacts leave CONTACT_RETENTION_DAYS after they occurred, to the second, with what hangs on
them and a receipt; a stored recording or an open privacy request keeps them until it ends."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.contacts.models import Contact, ContactRevision, IdentityVerification
from cs_register.contacts.retention import ContactRetention
from cs_register.customers.models import Customer
from cs_register.db import get_database
from cs_register.integrations import services as token_services
from cs_register.personal_data import registry
from cs_register.privacy.data_retention import overdue_contacts, sweep_customer_service_data
from cs_register.privacy.erasure_receipts import verify_retention_ledger
from cs_register.privacy.models import RetentionReceipt
from cs_register.runtime import build_runtime
from recordings import holds
from recordings.models import Call, Recording, RecordingState
from recordings.sweep import run_sweep
from tests.recordings.audio_samples import FORMATS
from tests.support.context import make_context
from tests.support.telephony import Api

KEEP = ContactRetention()  # the default, 180 days


@pytest.fixture
def sweep(app, database):
    def _sweep(now, **options: Any):
        with app.app_context():
            return sweep_customer_service_data(
                database, registry(), now=now, policy=KEEP, **options
            )

    return _sweep


@pytest.fixture
def called(client, database, clock, make_customer, tmp_path):
    """A customer who called once (recorded), and whose identity the agent checked."""
    customer = make_customer(phone="0401234567")
    with database.unit_of_work() as session:
        _, raw = token_services.create_token(make_context(session, None, clock.now), name="pbx")
    api = Api(client, raw, clock)
    call_id = api.new_call(customer_number="+358401234567")
    writer, _ = FORMATS["wav_pcm16"]
    audio = writer(tmp_path / "call.wav", seconds=1).read_bytes()
    response = api.upload(call_id, audio)
    assert response.status_code == 201
    with database.session_factory() as session:
        contact = session.scalars(sa.select(Contact)).one()
        recording = session.scalars(sa.select(Recording)).one()
    return customer, contact, recording


def _count(database, model) -> int:
    with database.session_factory() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def _purge_recordings(app, settings, now) -> None:
    runtime = build_runtime(settings)
    run_sweep(get_database(app), runtime.storage, now=now, policy=runtime.retention)


def test_a_contact_leaves_at_its_time_to_the_second_with_a_receipt(
    app, database, settings, called, sweep
):
    customer, contact, recording = called
    due = contact.occurred_at + timedelta(days=180)
    _purge_recordings(app, settings, due)  # the recording (3 months) went long before

    early = sweep(due - timedelta(seconds=1))
    assert (early.removed, early.kept) == (0, 0)
    assert _count(database, Contact) == 1

    report = sweep(due)
    assert (report.removed, report.kept, report.customers_removed) == (1, 0, 1)
    assert _count(database, Contact) == 0
    assert _count(database, Call) == 0  # the caller's number went with it
    with database.session_factory() as session:
        tombstone = session.get(Recording, recording.id)
        assert tombstone is not None
        assert (tombstone.state, tombstone.contact_id) == (RecordingState.PURGED, None)
        # With no contact left, the customer's record went in the same sweep.
        assert session.get(Customer, customer.id) is None
        receipt, customers_receipt = session.scalars(
            sa.select(RetentionReceipt).order_by(RetentionReceipt.sequence)
        ).all()
        assert (customers_receipt.category, customers_receipt.removed) == ("customers", 1)
        assert customers_receipt.erased == {"Customer record": 1}
        assert (receipt.category, receipt.removed) == ("contacts", 1)
        assert (receipt.first_id, receipt.last_id) == (contact.id, contact.id)
        assert receipt.erased == {"Call": 1, "Contact": 1}
        assert receipt.due_before == due - timedelta(days=180)
        assert verify_retention_ledger(session).ok
        events = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == AuditAction.DATA_RETENTION_APPLIED)
        ).all()
    assert [event.details["category"] for event in events] == ["contacts", "customers"]
    assert sweep(due).removed == 0  # idempotent


def test_a_held_recording_keeps_its_contact_until_the_hold_ends_never_past_the_cap(
    app, database, settings, called, sweep, make_staff, clock
):
    _, contact, recording = called
    policy = build_runtime(settings).retention
    with database.unit_of_work() as session:
        holds.place_hold(
            make_context(session, make_staff("supervisor"), clock.now),
            recording_public_id=recording.public_id,
            reason="complaint",
            reference="Complaint 7",
            justification="The customer complained about this call.",
            ends_on=date(2027, 11, 23),  # as late as allowed: the 12-month cap
            policy=policy,
        )
    with database.session_factory() as session:
        cap = session.get(Recording, recording.id).due_at  # type: ignore[union-attr]
    after_180_days = contact.occurred_at + timedelta(days=180)
    _purge_recordings(app, settings, after_180_days)
    report = sweep(after_180_days)
    assert (report.removed, report.kept) == (0, 1)
    with database.session_factory() as session:
        assert overdue_contacts(session, registry(app), now=after_180_days, policy=KEEP) == 0

    _purge_recordings(app, settings, cap - timedelta(seconds=1))
    assert sweep(cap - timedelta(seconds=1)).removed == 0
    _purge_recordings(app, settings, cap)  # the recording leaves at its cap...
    assert sweep(cap).removed == 1  # ...and its contact with it, in the same run
    assert _count(database, Contact) == 0


def test_an_open_privacy_request_keeps_the_customers_contacts(
    app, client, logged_in, database, settings, called, sweep
):
    customer, contact, _ = called
    logged_in("dpo")
    client.post(
        f"/customers/{customer.public_id}/privacy-requests/new",
        data={
            "kind": "access",
            "channel": "phone",
            "received_on": "2026-11-23",
            "description": "A copy of my data.",
            "verified": ["name"],
        },
    )
    due = contact.occurred_at + timedelta(days=180)
    _purge_recordings(app, settings, due)
    report = sweep(due)
    assert (report.kept, report.customers_removed) == (1, 0)
    assert _count(database, Contact) == 1
    assert _count(database, Customer) == 1


def test_a_customer_never_contacted_leaves_180_days_after_the_record_was_made(
    database, make_customer, sweep, clock
):
    customer = make_customer()
    due = clock.now + timedelta(days=180)
    assert sweep(due - timedelta(seconds=1)).customers_removed == 0
    assert _count(database, Customer) == 1
    assert sweep(due).customers_removed == 1
    with database.session_factory() as session:
        assert (
            session.scalar(sa.select(Customer).where(Customer.public_id == customer.public_id))
            is None
        )


def test_an_open_request_keeps_a_customer_with_no_contacts(
    client, logged_in, database, make_customer, sweep, clock
):
    customer = make_customer()
    logged_in("dpo")
    client.post(
        f"/customers/{customer.public_id}/privacy-requests/new",
        data={
            "kind": "erasure",
            "channel": "letter",
            "received_on": "2026-11-23",
            "description": "Erase me.",
            "verified": ["name"],
        },
    )
    report = sweep(clock.now + timedelta(days=181))
    assert (report.customers_removed, report.customers_kept) == (0, 1)
    assert _count(database, Customer) == 1


def test_a_dry_run_counts_and_changes_nothing(app, database, settings, called, sweep):
    _, contact, _ = called
    due = contact.occurred_at + timedelta(days=180)
    _purge_recordings(app, settings, due)
    report = sweep(due, dry_run=True)
    assert (report.removed, report.dry_run) == (1, True)
    assert _count(database, Contact) == 1
    assert _count(database, Customer) == 1
    assert _count(database, RetentionReceipt) == 0


def test_the_monitor_fails_when_contacts_are_kept_past_their_time(
    app, database, settings, called, sweep, clock
):
    _, contact, _ = called
    late = contact.occurred_at + timedelta(days=180, hours=2)
    _purge_recordings(app, settings, late)
    clock.now = late
    runner = app.test_cli_runner()
    result = runner.invoke(args=["retention", "status"])
    assert result.exit_code == 2
    assert "Contacts overdue for removal: 1" in result.output
    swept = runner.invoke(args=["retention", "sweep"])
    assert swept.exit_code == 0, swept.output
    assert "Contacts: removed 1" in swept.output
    assert runner.invoke(args=["retention", "status"]).exit_code == 0
    verified = runner.invoke(args=["retention", "verify"])
    assert "Retention ledger OK: 2 receipts" in verified.output  # the contact, the customer


def test_everything_that_hangs_on_a_contact_goes_with_it(
    app, client, logged_in, database, make_customer, sweep, clock
):
    customer = make_customer()
    logged_in("agent")
    response = client.post(
        "/contacts/new",
        data={
            "customer": customer.public_id,
            "channel": "email",
            "direction": "inbound",
            "occurred_at": "2026-11-23T10:45",
            "subject": "Address change",
            "notes": "Moving in December.",
            "verification_outcome": "verified",
            "verify_name": "1",
        },
    )
    assert response.status_code == 302
    assert _count(database, IdentityVerification) == 1
    with database.session_factory() as session:
        occurred = session.scalars(sa.select(Contact.occurred_at)).one()
    report = sweep(occurred + timedelta(days=180))
    assert report.removed == 1
    assert _count(database, IdentityVerification) == 0
    with database.session_factory() as session:
        receipt = session.scalars(
            sa.select(RetentionReceipt).where(RetentionReceipt.category == "contacts")
        ).one()
    assert receipt.erased == {"Contact": 1, "Identity verification": 1}


def test_a_contacts_corrections_go_with_it(app, client, logged_in, database, make_customer, sweep):
    customer = make_customer()
    logged_in("agent")
    client.post(
        "/contacts/new",
        data={
            "customer": customer.public_id,
            "channel": "email",
            "direction": "inbound",
            "occurred_at": "2026-11-23T10:45",
            "subject": "Address change",
            "notes": "Moving in December.",
            "verification_outcome": "not_attempted",
        },
    )
    with database.session_factory() as session:
        contact = session.scalars(sa.select(Contact)).one()
    edited = client.post(
        f"/contacts/{contact.public_id}/edit",
        data={"subject": "Address change", "notes": "Moving in January.", "revision": "0"},
    )
    assert edited.status_code == 303
    assert _count(database, ContactRevision) == 1

    report = sweep(contact.occurred_at + timedelta(days=180))

    assert report.removed == 1
    assert _count(database, ContactRevision) == 0
    with database.session_factory() as session:
        receipt = session.scalars(
            sa.select(RetentionReceipt).where(RetentionReceipt.category == "contacts")
        ).one()
    assert receipt.erased["Correction of a contact"] == 1
