"""The CSV download: the filtered trail, every event, audited, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from cs_register.audit import export
from cs_register.audit.models import AuditAction
from cs_register.customers.models import Customer
from tests.cs_register.audit.conftest import audit_rows


def read_csv(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_the_download_is_the_filtered_trail_in_words(
    client, logged_in, add_event, clock, console_objects
):
    viewer = logged_in("supervisor")
    for n in range(export.BATCH + 20):
        add_event(
            AuditAction.CUSTOMER_VIEWED,
            actor=viewer,
            when=clock.now + timedelta(seconds=n / 10),
            subject_type="customer",
            subject_id=console_objects.customer,
        )
    add_event(AuditAction.CONTACT_VIEWED, actor=viewer)
    response = client.get("/audit/export.csv?action=customer_viewed")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="audit-trail.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    lines = read_csv(response)
    # Every event, across the export's batches, once each and newest first (not collapsed).
    assert len(lines) == export.BATCH + 20
    ids = [int(line["event"]) for line in lines]
    assert ids == sorted(set(ids), reverse=True)
    first = lines[0]
    assert first["actor"] == "Test Supervisor"
    assert first["action"] == "Viewed a customer"
    assert first["action code"] == "customer_viewed"
    assert first["subject kind"] == "customer"
    assert first["subject"] == "Reitti Testaaja"
    assert first["subject id"] == console_objects.customer
    assert first["time (Helsinki)"] == "23.11.2026 11:00:51"
    assert "131052" not in response.get_data(as_text=True)


def test_the_download_is_audited_with_its_filters(client, logged_in, db_session):
    viewer = logged_in("dpo")
    subject = str(uuid.uuid4())
    response = client.get(
        "/audit/export.csv",
        query_string={
            "action": "group:recordings",
            "staff": str(viewer.id),
            "subject_type": "recording",
            "subject": subject,
            "from": "1.11.2026",
            "to": "23.11.2026",
        },
    )
    assert response.status_code == 200
    assert read_csv(response) == []
    (event,) = audit_rows(db_session, AuditAction.AUDIT_TRAIL_EXPORTED)
    assert event.actor_id == viewer.id
    assert event.details == {
        "filters": {
            "action": "group:recordings",
            "staff": viewer.id,
            "subject_type": "recording",
            "subject_id": subject,
            "from_date": "2026-11-01",
            "to_date": "2026-11-23",
        }
    }
    # An export's row is committed before its lines are read, so it lists itself too.
    again = read_csv(client.get("/audit/export.csv?action=audit_trail_exported"))
    assert [line["action"] for line in again] == ["Downloaded the audit trail"] * 2


def test_formula_cells_are_defused(client, logged_in, add_event, database, console_objects):
    with database.unit_of_work() as session:
        customer = session.scalar(
            sa.select(Customer).where(Customer.public_id == console_objects.customer)
        )
        customer.given_names = '=HYPERLINK("http://evil")'
        customer.family_name = "x"
    viewer = logged_in("supervisor")
    add_event(
        AuditAction.CUSTOMER_VIEWED,
        actor=viewer,
        subject_type="customer",
        subject_id=console_objects.customer,
        details={"note": "-1+1", "other": "@SUM(A1)"},
    )
    (line,) = read_csv(client.get("/audit/export.csv?action=customer_viewed"))
    assert line["subject"] == '\'=HYPERLINK("http://evil") x'
    assert line["details"] == "note: -1+1; other: @SUM(A1)"


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Matti", "Matti"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_defuse(cell, safe):
    assert export.defuse(cell) == safe
