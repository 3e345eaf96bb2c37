"""The personal-data registry covers the whole schema, and finds what it says it holds."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from cs_register import (
    models,  # noqa: F401 - registers every table on Base.metadata
    personal_data,
)
from cs_register.context import Context
from cs_register.db import Base
from cs_register.intake.email import receive_email
from cs_register.integrations import services as token_services
from cs_register.permissions import Actor
from cs_register.personal_data import (
    DataSubject,
    PersonalDataRegistry,
    SourceDescription,
    claim,
)
from recordings.intake import register_call
from tests.support.context import make_context
from tests.support.email import build_message

# Tables that point at a person's records hold data about that person.
PERSON_TABLES = {"customers", "contacts", "recordings", "staff_users"}
# Column names that hold personal data wherever they appear.
PERSONAL_COLUMN = re.compile(
    r"email|phone|identity_code|given_names|family_name|street|postal|city|address|note"
    r"|subject|sender|customer_number|display_name|username|ip_address|transcript|body"
    r"|description|justification|reason|old_value|new_value|storage_key|playback_key",
)


def unclaimed_personal_tables(metadata: sa.MetaData, claimed: set[str]) -> list[str]:
    """Tables that refer to a person's records or have personal-looking columns, unclaimed."""
    unclaimed = []
    for table in metadata.sorted_tables:
        refers = any(
            fk.column.table.name in PERSON_TABLES and not column.name.endswith("_by_id")
            for column in table.columns
            for fk in column.foreign_keys
        )
        personal = any(PERSONAL_COLUMN.search(column.name) for column in table.columns)
        if (refers or personal or table.name in PERSON_TABLES) and table.name not in claimed:
            unclaimed.append(table.name)
    return unclaimed


def test_every_table_with_personal_data_is_claimed_by_a_source(app):
    claimed = set(personal_data.registry(app).claimed_tables())
    assert unclaimed_personal_tables(Base.metadata, claimed) == []


def test_the_schema_walk_catches_a_new_table_nobody_registered(app):
    claimed = set(personal_data.registry(app).claimed_tables())
    metadata = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    sa.Table(
        "complaint_letters",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.ForeignKey("customers.id")),
    )
    sa.Table(
        "callback_requests",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("callback_phone", sa.String(16)),
    )
    assert unclaimed_personal_tables(metadata, claimed) == [
        "callback_requests",
        "complaint_letters",
    ]


def test_every_claimed_column_exists(app):
    for source in personal_data.registry(app).describe():
        for table_claim in source.tables:
            table = Base.metadata.tables[table_claim.table]
            missing = [name for name in table_claim.columns if name not in table.columns]
            assert missing == [], (source.name, table_claim.table, missing)


def test_a_source_lists_findings_only_from_tables_it_claims():
    described = SourceDescription("notes", "Notes", (claim("notes", "Notes.", "text"),))

    kind = described.finding_kind("notes", "Note")
    assert (kind.source, kind.table, kind.category) == ("notes", "notes", "Note")
    with pytest.raises(LookupError, match="has not claimed the table diary"):
        described.finding_kind("diary", "Diary entry")


def test_every_finding_kind_names_its_own_source():
    """Each package's kinds are made from its own description, so a finding always carries
    the name the registry knows its source by."""
    from cs_register.contacts import personal_data as contact_data
    from recordings import personal_data as recording_data

    assert contact_data.CONTACT.source == contact_data.DESCRIPTION.name == "contacts"
    assert recording_data.UNLINKED_CALL.source == "recordings"
    assert recording_data.UNLINKED_CALL.needs_confirmation


def test_every_source_of_customer_data_can_erase_it(app):
    """Erasure reaches a package only through its source: one that holds customers' data and
    cannot erase it would leave the person behind."""
    registry = personal_data.registry(app)
    assert registry.unerasable() == []

    @dataclass(frozen=True)
    class Forgetful:
        def describe(self) -> SourceDescription:
            return SourceDescription("forgetful", "Forgetful", (claim("notes", "Notes.", "text"),))

        def find(self, ctx, subject, earlier):
            return ()

    extended = PersonalDataRegistry(sources=[*registry.sources, Forgetful()])
    assert extended.unerasable() == ["forgetful"]


def pbx_call(session, clock, external_call_id):
    """A call from +358 40 1234567, reported by the PBX: its unit of work and the call."""
    token, _ = token_services.create_token(make_context(session, None, clock.now), name="pbx")
    ctx = Context(session=session, actor=Actor.for_integration("pbx"), now=clock.now)
    payload = {
        "external_call_id": external_call_id,
        "direction": "inbound",
        "customer_number": "+358401234567",
        "started_at": "2026-11-23T08:00:00+00:00",
    }
    call, _ = register_call(ctx, token=token, payload=payload)
    return ctx, call


@pytest.fixture
def customer_with_history(database, clock, make_customer):
    """A customer who called (PBX) and wrote (email relay), through the real intake."""
    customer = make_customer(phone="0401234567", email="matti@example.fi")
    with database.unit_of_work() as session:
        ctx, call = pbx_call(session, clock, "call-1")
        message = build_message(sender="Matti <matti@example.fi>", subject="Lasku")
        email_row, _, _ = receive_email(ctx, raw=message)
        return customer, call.public_id, email_row.public_id


def test_the_registry_finds_a_customer_in_every_package(
    app, database, clock, customer_with_history
):
    customer, call_id, email_id = customer_with_history
    registry = personal_data.registry(app)
    with database.unit_of_work() as session:
        ctx = Context(session=session, actor=Actor.for_command("test"), now=clock.now)
        findings = registry.find(ctx, DataSubject(customer.id, customer.public_id))
    references = {finding.table: set() for finding in findings}
    for finding in findings:
        references[finding.table].add(finding.reference)
    assert references["customers"] == {customer.public_id}
    assert len(references["contacts"]) == 2
    assert references["calls"] == {call_id}
    assert references["email_messages"] == {email_id}
    # The audit trail: the customer's creation, the call and the email, found by their ids.
    actions = {dict(f.fields)["Action"] for f in findings if f.table == "audit_events"}
    assert {"customer_created", "call_registered", "email_contact_received"} <= actions


def test_a_stranger_has_nothing_found(app, database, clock, customer_with_history, make_customer):
    other = make_customer(given_names="Maija", family_name="Muukalainen")
    with database.unit_of_work() as session:
        ctx = Context(session=session, actor=Actor.for_command("test"), now=clock.now)
        findings = personal_data.registry(app).find(ctx, DataSubject(other.id, other.public_id))
    assert {finding.table for finding in findings} == {"customers", "audit_events"}


def test_unlinked_calls_and_emails_from_their_number_and_address_are_found(
    app, database, clock, make_customer
):
    # Two customers share a phone and an email, so neither the call nor the email is linked.
    customer = make_customer(phone="0401234567", email="yhteinen@example.fi")
    make_customer(given_names="Toinen", phone="0401234567", email="yhteinen@example.fi")
    with database.unit_of_work() as session:
        ctx, call = pbx_call(session, clock, "call-unlinked")
        email_row, contact, _ = receive_email(
            ctx, raw=build_message(sender="Yhteinen <yhteinen@example.fi>")
        )
        assert contact.customer_id is None
        subject = DataSubject(customer.id, customer.public_id, "+358401234567", customer.email)
        findings = personal_data.registry(app).find(ctx, subject)
    found = {(finding.category, finding.reference) for finding in findings}
    assert ("Unlinked call from their number", call.public_id) in found
    assert ("Unlinked email from their address", email_row.public_id) in found
    # ... and what the audit trail holds about them.
    about = {dict(f.fields)["About"] for f in findings if f.table == "audit_events"}
    assert f"call {call.public_id}" in about
