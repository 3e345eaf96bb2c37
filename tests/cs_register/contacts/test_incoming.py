"""The one way in for integrations' contacts: the shared free-text policy and last-contact rule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cs_register.contacts.incoming import record_incoming_contact
from cs_register.contacts.models import MAX_SUBJECT, Channel, Contact, Direction
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.free_text import IDENTITY_CODE_REDACTED
from cs_register.permissions import Actor

CODE = "131052-308T"


@pytest.fixture
def ctx(db_session, clock):
    return Context(session=db_session, actor=Actor.for_integration("pbx"), now=clock.now)


@pytest.mark.parametrize("channel", list(Channel))
def test_every_channel_stores_subject_and_notes_with_codes_redacted(ctx, db_session, channel):
    incoming = record_incoming_contact(
        ctx,
        channel=channel,
        direction=Direction.INBOUND,
        occurred_at=ctx.now,
        subject=f"Code {CODE}",
        notes=f"first {CODE}, then 131052 - 308 T with spaces",
        customer_id=None,
    )
    contact = db_session.get(Contact, incoming.id)
    assert contact.subject == f"Code {IDENTITY_CODE_REDACTED}"
    assert contact.notes == (
        f"first {IDENTITY_CODE_REDACTED}, then {IDENTITY_CODE_REDACTED} with spaces"
    )


def test_a_redacted_subject_still_fits_its_column(ctx, db_session):
    subject = ("x" * (MAX_SUBJECT - len(CODE))) + CODE
    incoming = record_incoming_contact(
        ctx,
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        occurred_at=ctx.now,
        subject=subject,
        notes="",
        customer_id=None,
    )
    stored = db_session.get(Contact, incoming.id).subject
    assert len(stored) == MAX_SUBJECT
    assert CODE not in stored


def test_last_contact_moves_forward_only(ctx, db_session, make_customer):
    customer = make_customer(phone="0401234567")
    for occurred_at in (ctx.now, ctx.now - timedelta(days=3)):
        record_incoming_contact(
            ctx,
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
            occurred_at=occurred_at,
            subject="Inbound call",
            notes="",
            customer_id=customer.id,
        )
    db_session.commit()
    assert db_session.get(Customer, customer.id).last_contact_at == ctx.now
