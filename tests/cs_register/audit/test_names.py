"""Subjects on the trail: named by the package that owns them, linked to their pages for those
who may open them, and said to be gone (without a link) once they are."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from cs_register.audit.models import AuditAction
from cs_register.permissions import ROLE_PERMISSIONS, Permission, Role
from cs_register.privacy.models import PrivacyRequest
from recordings.models import Recording, RecordingState
from tests.cs_register.audit.conftest import event_rows


def test_subjects_are_named_and_linked(client, logged_in, add_event, console_objects):
    viewer = logged_in("supervisor")
    objects = console_objects
    for action, kind, public_id in (
        (AuditAction.CUSTOMER_VIEWED, "customer", objects.customer),
        (AuditAction.CONTACT_VIEWED, "contact", objects.contact),
        (AuditAction.STAFF_ROLE_CHANGED, "staff", objects.staff),
    ):
        add_event(action, actor=viewer, subject_type=kind, subject_id=public_id)
    html = client.get("/audit").text
    (customer_row,) = event_rows(client.get("/audit?action=customer_viewed").text)
    assert f'<a href="/customers/{objects.customer}">Reitti Testaaja</a>' in customer_row
    # The customer was created with an identity code: it is nowhere on the page.
    assert "131052" not in html

    (contact_row,) = event_rows(client.get("/audit?action=contact_viewed").text)
    assert f'<a href="/contacts/{objects.contact}">phone call of 23.11.2026 11:00</a>' in (
        contact_row
    )
    # The contact's subject line is free text: it stays on the contact's page.
    assert "Route walker contact" not in contact_row

    (staff_row,) = event_rows(client.get("/audit?action=staff_role_changed").text)
    # Staff pages belong to admins, who do not read the trail: named, not linked.
    assert "Route Target" in staff_row
    assert f'href="/admin/staff/{objects.staff}"' not in staff_row


def test_erased_and_purged_subjects_are_said_to_be_gone_without_a_link(
    client, logged_in, add_event, console_objects
):
    viewer = logged_in("supervisor")
    erased = str(uuid.uuid4())
    add_event(AuditAction.CUSTOMER_VIEWED, actor=viewer, subject_type="customer", subject_id=erased)
    add_event(
        AuditAction.RECORDING_PLAYED,
        actor=viewer,
        subject_type="recording",
        subject_id=console_objects.recording,
    )
    add_event(
        AuditAction.CONTACT_VIEWED,
        actor=viewer,
        subject_type="contact",
        subject_id=str(uuid.uuid4()),
    )
    html = client.get("/audit").text
    rows = event_rows(html)
    assert "<em>erased customer</em>" in rows[2]
    assert f'href="/customers/{erased}"' not in html
    # The console objects' recording is a purged tombstone.
    assert "<em>purged recording</em>" in rows[1]
    assert f'href="/recordings/{console_objects.recording}"' not in html
    assert "<em>deleted contact</em>" in rows[0]


def test_a_restricted_customer_is_not_named_to_a_supervisor(
    client, logged_in, add_event, console_objects, database
):
    from cs_register.customers.models import Customer

    with database.unit_of_work() as session:
        customer = session.scalar(
            sa.select(Customer).where(Customer.public_id == console_objects.customer)
        )
        customer.restricted_at = customer.created_at
    viewer = logged_in("supervisor")
    add_event(
        AuditAction.CUSTOMER_VIEWED,
        actor=viewer,
        subject_type="customer",
        subject_id=console_objects.customer,
    )
    (row,) = event_rows(client.get("/audit?action=customer_viewed").text)
    assert "Testaaja" not in row
    assert f'href="/customers/{console_objects.customer}"' not in row


def test_recordings_link_only_for_viewers_who_may_play_them(
    client, logged_in, login, make_staff, add_event, database, console_objects
):
    with database.unit_of_work() as session:
        recording = session.scalar(
            sa.select(Recording).where(Recording.public_id == console_objects.recording)
        )
        # Alive again for this test: a stored recording has a storage key.
        recording.state = RecordingState.ACTIVE
        recording.storage_key = "live-recording"
    add_event(
        AuditAction.RECORDING_PLAYED,
        subject_type="recording",
        subject_id=console_objects.recording,
    )
    logged_in("supervisor")
    html = client.get("/audit").text
    assert f'<a href="/recordings/{console_objects.recording}">recording of 23.11.2026' in html
    # The DPO listens only to recordings an open privacy request concerns, so the link may lead
    # to "not found" for them; their role may open the page.
    login(client, make_staff("dpo"))
    assert f'href="/recordings/{console_objects.recording}"' in client.get("/audit").text


def test_no_link_or_name_for_a_viewer_who_may_not_read_customers(
    client, logged_in, add_event, monkeypatch, console_objects
):
    # A role that reads the audit trail but not customers (none today; the link must follow
    # the permission table if one is ever configured).
    monkeypatch.setitem(
        ROLE_PERMISSIONS, Role.DPO, ROLE_PERMISSIONS[Role.DPO] - {Permission.VIEW_CUSTOMERS}
    )
    viewer = logged_in("dpo")
    add_event(
        AuditAction.CUSTOMER_VIEWED,
        actor=viewer,
        subject_type="customer",
        subject_id=console_objects.customer,
    )
    (row,) = event_rows(client.get("/audit?action=customer_viewed").text)
    assert "Testaaja" not in row
    assert f'href="/customers/{console_objects.customer}"' not in row


def test_subjects_no_package_names_show_their_kind(client, logged_in, add_event):
    logged_in("dpo")
    add_event(
        AuditAction.DATA_RETENTION_APPLIED,
        subject_type="retention_receipt",
        subject_id=str(uuid.uuid4()),
    )
    (row,) = event_rows(client.get("/audit?action=data_retention_applied").text)
    assert "retention receipt" in row
    assert "Old data removed by retention" in row


def test_names_are_asked_once_per_kind_not_per_row(
    client, logged_in, add_event, console_objects, app, database
):
    viewer = logged_in("supervisor")
    for _ in range(5):
        for kind, public_id in (
            ("customer", console_objects.customer),
            ("customer", str(uuid.uuid4())),
            ("contact", console_objects.contact),
            ("recording", console_objects.recording),
        ):
            add_event(
                AuditAction.CUSTOMER_UPDATED, actor=viewer, subject_type=kind, subject_id=public_id
            )
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(database.engine, "before_cursor_execute", count)
    try:
        response = client.get("/audit?action=customer_updated")
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", count)
    assert len(event_rows(response.text)) == 20

    def asked(table: str) -> int:
        return len([s for s in statements if f"WHERE {table}.public_id IN" in s])

    assert (asked("customers"), asked("contacts"), asked("recordings")) == (1, 1, 1)
    assert len([s for s in statements if "WHERE staff_users.id IN" in s]) == 1


def test_privacy_requests_are_named_by_kind_and_day(
    client, logged_in, add_event, database, console_objects
):
    from cs_register.privacy import models as privacy_models

    assert PrivacyRequest.audit_subject_type == "privacy_request"
    logged_in("dpo")
    add_event(
        AuditAction.PRIVACY_REQUEST_VIEWED,
        subject_type="privacy_request",
        subject_id=str(uuid.uuid4()),
    )
    (row,) = event_rows(client.get("/audit?action=privacy_request_viewed").text)
    assert "<em>deleted privacy request</em>" in row
    assert privacy_models.RequestKind.ACCESS.label == "Access to own data"
