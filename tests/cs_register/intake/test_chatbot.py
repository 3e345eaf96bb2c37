"""The chatbot webhook: contacts, linking, per-field validation, duplicates and handovers."""

from __future__ import annotations

import json
import threading
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.contacts.models import Channel, Contact, Direction
from cs_register.free_text import IDENTITY_CODE_REDACTED
from cs_register.intake import chatbot, chatbot_payload
from cs_register.intake.models import ChatbotConversation, WebhookDelivery
from tests.cs_register.intake.conftest import (
    CHATBOT_URL,
    PostChatbot,
    contacts,
    conversation,
    count_rows,
)
from tests.cs_register.intake.signing import sign


def audit_rows(database, action: AuditAction) -> list[AuditEvent]:
    with database.unit_of_work() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def conversation_row(database, contact_id: int) -> ChatbotConversation:
    with database.unit_of_work() as session:
        row = session.scalar(
            sa.select(ChatbotConversation).where(ChatbotConversation.contact_id == contact_id)
        )
        assert row is not None
        return row


# --- the contact -------------------------------------------------------------------------


def test_a_conversation_becomes_an_inbound_chatbot_contact(
    post_chatbot: PostChatbot, secret, database
):
    payload = conversation(conversation_id="conv-42", handover=True)
    response = post_chatbot(payload, secret=secret)

    assert response.status_code == 201
    assert response.get_json() == {
        "contact_id": response.get_json()["contact_id"],
        "linked": False,
        "handover": True,
    }
    [contact] = contacts(database)
    assert contact.public_id == response.get_json()["contact_id"]
    assert contact.channel is Channel.CHATBOT
    assert contact.direction is Direction.INBOUND
    assert contact.occurred_at == datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
    assert contact.subject == "Chatbot conversation (fi)"
    assert contact.customer_id is None
    assert contact.handled_by_id is None
    assert "Summary:\nAsks about an invoice." in contact.notes
    assert "customer: Hei, laskussani on virhe.\nbot: Kerro laskun numero" in contact.notes
    assert "Name: Maija Virtanen" in contact.notes
    row = conversation_row(database, contact.id)
    assert row.conversation_id == "conv-42"
    assert row.needs_handover is True
    assert row.language == "fi"
    assert row.ended_at == datetime(2026, 11, 23, 8, 41, tzinfo=UTC)


def test_the_contact_is_audited_without_personal_data(post_chatbot: PostChatbot, secret, database):
    payload = conversation(customer={"name": "Maija", "email": "maija@example.fi"})
    contact_id = post_chatbot(payload, secret=secret).get_json()["contact_id"]
    [event] = audit_rows(database, AuditAction.CHATBOT_CONTACT_RECEIVED)
    assert event.actor_id is None
    assert event.actor_label == "integration:chatbot"
    assert event.subject_id == contact_id
    assert event.details == {"contact": contact_id, "linked": False, "handover": False}
    assert "maija" not in str(event.details).lower()


def test_unknown_fields_are_ignored_and_optional_ones_may_be_left_out(
    post_chatbot: PostChatbot, secret, database
):
    payload = {
        "conversation_id": "minimal-1",
        "started_at": "2026-11-23T08:00:00Z",
        "bot_version": "7.1",
        "customer": {"shoe_size": 42},
    }
    response = post_chatbot(payload, secret=secret)
    assert response.status_code == 201
    [contact] = contacts(database)
    assert contact.subject == "Chatbot conversation"
    assert contact.notes == ""
    assert response.get_json()["handover"] is False


def test_identity_codes_typed_to_the_bot_are_redacted_from_the_notes(
    post_chatbot: PostChatbot, secret, database
):
    payload = conversation(
        summary="Customer gave 131052-308T.",
        transcript=[{"speaker": "customer", "text": "hetuni on 131052 - 308t"}],
    )
    assert post_chatbot(payload, secret=secret).status_code == 201
    [contact] = contacts(database)
    assert "308" not in contact.notes
    assert contact.notes.count(IDENTITY_CODE_REDACTED) == 2


# --- linking -----------------------------------------------------------------------------


def test_links_to_the_one_customer_with_the_email(
    post_chatbot: PostChatbot, secret, database, make_customer
):
    customer = make_customer(email="Maija.Virtanen@Example.fi", phone="040 123 4567")
    make_customer(email="someone.else@example.fi", phone="040 765 4321")
    payload = conversation(customer={"email": "maija.virtanen@example.fi", "phone": "0407654321"})
    response = post_chatbot(payload, secret=secret)
    assert response.status_code == 201
    assert response.get_json()["linked"] is True
    [contact] = contacts(database)
    assert contact.customer_id == customer.id
    [event] = audit_rows(database, AuditAction.CHATBOT_CONTACT_RECEIVED)
    assert event.details["customer"] == customer.public_id


def test_links_by_phone_when_the_email_matches_nobody(
    post_chatbot: PostChatbot, secret, database, make_customer
):
    customer = make_customer(phone="+358 40 123 4567")
    payload = conversation(customer={"email": "new@example.fi", "phone": "040 1234567"})
    assert post_chatbot(payload, secret=secret).get_json()["linked"] is True
    [contact] = contacts(database)
    assert contact.customer_id == customer.id


def test_an_email_shared_by_two_customers_leaves_the_contact_unlinked(
    post_chatbot: PostChatbot, secret, database, make_customer
):
    make_customer(email="family@example.fi")
    make_customer(email="family@example.fi", given_names="Pekka")
    only_phone = make_customer(phone="040 111 2222")
    payload = conversation(customer={"email": "family@example.fi", "phone": "0401112222"})
    assert post_chatbot(payload, secret=secret).get_json()["linked"] is False
    [contact] = contacts(database)
    assert contact.customer_id is None
    assert only_phone.id != contact.customer_id


def test_a_phone_shared_by_two_customers_leaves_the_contact_unlinked(
    post_chatbot: PostChatbot, secret, database, make_customer
):
    make_customer(phone="040 111 2222")
    make_customer(phone="040 111 2222", given_names="Pekka")
    payload = conversation(customer={"phone": "0401112222"})
    assert post_chatbot(payload, secret=secret).get_json()["linked"] is False


def test_linking_updates_the_customers_last_contact(
    post_chatbot: PostChatbot, secret, database, make_customer
):
    from cs_register.customers.models import Customer

    customer = make_customer(email="maija@example.fi")
    post_chatbot(conversation(customer={"email": "maija@example.fi"}), secret=secret)
    with database.unit_of_work() as session:
        stored = session.get(Customer, customer.id)
        assert stored is not None
        assert stored.last_contact_at == datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


# --- duplicates --------------------------------------------------------------------------


def test_the_same_conversation_under_a_new_webhook_id_is_one_contact(
    post_chatbot: PostChatbot, secret, database
):
    payload = conversation(conversation_id="conv-dup", handover=True)
    first = post_chatbot(payload, secret=secret, webhook_id="msg_a")
    second = post_chatbot(payload, secret=secret, webhook_id="msg_b")
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.get_json() == first.get_json()
    assert count_rows(database, Contact) == 1
    assert len(audit_rows(database, AuditAction.CHATBOT_CONTACT_RECEIVED)) == 1
    # And a retry of the second delivery repeats the second answer.
    third = post_chatbot(payload, secret=secret, webhook_id="msg_b")
    assert third.status_code == 200
    assert count_rows(database, WebhookDelivery) == 2


def test_a_replayed_webhook_id_answers_the_original_even_with_another_body(
    post_chatbot: PostChatbot, secret, database
):
    first = post_chatbot(conversation(), secret=secret, webhook_id="msg_same")
    # Correctly signed again by the platform, but a retry is a retry: the first answer stands.
    second = post_chatbot(conversation(), secret=secret, webhook_id="msg_same")
    assert (second.status_code, second.get_json()) == (201, first.get_json())
    assert count_rows(database, Contact) == 1


def test_a_replayed_webhook_id_answers_the_original_even_if_the_body_is_now_invalid(
    post_chatbot: PostChatbot, secret, database
):
    first = post_chatbot(conversation(), secret=secret, webhook_id="msg_kept")
    # Validation runs first, but a known webhook id still gets its stored answer, not a 422.
    second = post_chatbot({"conversation_id": 42}, secret=secret, webhook_id="msg_kept")
    assert (second.status_code, second.get_json()) == (201, first.get_json())
    assert post_chatbot({"conversation_id": 42}, secret=secret).status_code == 422
    assert count_rows(database, Contact) == 1


def test_concurrent_deliveries_of_one_conversation_make_one_contact(app, secret, database, clock):
    # Real concurrency: eight threads deliver the same conversation under their own webhook
    # ids at once. The unique key decides; every loser answers from the winner's contact.
    payload = json.dumps(conversation(conversation_id="conv-race", handover=True)).encode()
    start = threading.Barrier(8)
    answers: list[tuple[int, dict[str, Any]]] = []

    def deliver(index: int) -> None:
        headers = sign(
            secret, payload, webhook_id=f"msg_race_{index}", timestamp=int(clock.now.timestamp())
        )
        client = app.test_client()
        start.wait(timeout=10)
        response = client.post(
            CHATBOT_URL, data=payload, headers={**headers, "Content-Type": "application/json"}
        )
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=deliver, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 7 + [201]
    assert len({body["contact_id"] for _, body in answers}) == 1
    assert count_rows(database, Contact) == 1
    assert count_rows(database, ChatbotConversation) == 1
    # Every webhook id is remembered, so each sender's retry gets its own answer back.
    assert count_rows(database, WebhookDelivery) == 8
    assert len(audit_rows(database, AuditAction.CHATBOT_CONTACT_RECEIVED)) == 1


def test_old_delivery_records_are_purged_after_the_retention_window(
    post_chatbot: PostChatbot, secret, database, clock
):
    post_chatbot(conversation(), secret=secret)
    with database.unit_of_work() as session:
        kept = chatbot.purge_webhook_deliveries(session, now=clock.now + chatbot.DELIVERY_RETENTION)
        assert kept == 0
        purged = chatbot.purge_webhook_deliveries(
            session, now=clock.now + chatbot.DELIVERY_RETENTION + timedelta(seconds=1)
        )
        assert purged == 1
    assert count_rows(database, Contact) == 1


# --- validation --------------------------------------------------------------------------

LONG = "x" * 4_001


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"conversation_id": None}, "conversation_id"),
        ({"conversation_id": 42}, "conversation_id"),
        ({"conversation_id": ""}, "conversation_id"),
        ({"conversation_id": "c" * 129}, "conversation_id"),
        ({"conversation_id": "bad\u0000id"}, "conversation_id"),
        ({"started_at": None}, "started_at"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"started_at": "2026-11-23T10:30:00"}, "started_at"),
        ({"started_at": "2026-11-23T11:06:00+00:00"}, "started_at"),
        ({"started_at": "2025-11-01T00:00:00+00:00"}, "started_at"),
        ({"started_at": "0001-01-01T00:00:00+14:00"}, "started_at"),
        ({"started_at": "9999-12-31T23:00:00-05:00"}, "started_at"),
        ({"conversation_id": "   "}, "conversation_id"),
        (
            {"transcript": [{"speaker": "bot", "text": "hi", "at": "0001-01-01T00:00+14:00"}]},
            "transcript.0.at",
        ),
        ({"ended_at": "2026-11-23T10:00:00+02:00"}, "ended_at"),
        ({"ended_at": 5}, "ended_at"),
        ({"customer": "Maija"}, "customer"),
        ({"customer": {"name": 7}}, "customer.name"),
        ({"customer": {"name": "n" * 201}}, "customer.name"),
        ({"customer": {"email": "not an email"}}, "customer.email"),
        ({"customer": {"email": ""}}, "customer.email"),
        ({"customer": {"phone": "12"}}, "customer.phone"),
        ({"customer": {"phone": ["040"]}}, "customer.phone"),
        ({"language": "f"}, "language"),
        ({"language": "fi_FI"}, "language"),
        ({"language": 1}, "language"),
        ({"summary": "s" * 2_001}, "summary"),
        ({"summary": ["a"]}, "summary"),
        ({"summary": "bad \ud800 surrogate"}, "summary"),
        ({"transcript": "hello"}, "transcript"),
        ({"transcript": [{"speaker": "customer", "text": "hi"}] * 501}, "transcript"),
        ({"transcript": [{"speaker": "customer", "text": "t" * 4_000}] * 26}, "transcript"),
        ({"transcript": ["hello"]}, "transcript.0"),
        ({"transcript": [{"speaker": "human", "text": "hi"}]}, "transcript.0.speaker"),
        (
            {"transcript": [{"speaker": "bot", "text": "ok"}] * 3 + [{"speaker": "bot"}]},
            "transcript.3.text",
        ),
        ({"transcript": [{"speaker": "bot", "text": LONG}]}, "transcript.0.text"),
        ({"transcript": [{"speaker": "bot", "text": "a\u0000b"}]}, "transcript.0.text"),
        ({"transcript": [{"speaker": "bot", "text": "hi", "at": "noon"}]}, "transcript.0.at"),
        ({"handover": "yes"}, "handover"),
        ({"handover": 1}, "handover"),
    ],
)
def test_invalid_fields_are_422_with_a_dotted_path_and_store_nothing(
    post_chatbot: PostChatbot, secret, database, changes, field
):
    response = post_chatbot(conversation(**changes), secret=secret)
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert field in problem["errors"], problem["errors"]
    for model in (Contact, ChatbotConversation, WebhookDelivery):
        assert count_rows(database, model) == 0
    assert audit_rows(database, AuditAction.CHATBOT_CONTACT_RECEIVED) == []


@pytest.mark.parametrize("body", [[], "text", 3, None], ids=repr)
def test_a_json_body_that_is_not_an_object_is_422(post_chatbot: PostChatbot, secret, body):
    response = post_chatbot(body, secret=secret)
    assert response.status_code == 422
    assert "body" in response.get_json()["errors"]


def test_every_bad_field_is_reported_at_once(post_chatbot: PostChatbot, secret):
    payload = conversation(conversation_id="", customer={"email": "x", "phone": "1"}, handover="no")
    errors = post_chatbot(payload, secret=secret).get_json()["errors"]
    assert {"conversation_id", "customer.email", "customer.phone", "handover"} <= errors.keys()


def test_error_messages_do_not_echo_the_values(post_chatbot: PostChatbot, secret):
    payload = conversation(customer={"email": "maija@@example", "phone": "+999 secret-number"})
    text = post_chatbot(payload, secret=secret).get_data(as_text=True)
    assert "maija" not in text
    assert "secret-number" not in text


def test_null_optional_fields_are_accepted(post_chatbot: PostChatbot, secret):
    payload = conversation(
        ended_at=None, customer=None, language=None, summary=None, transcript=None, handover=None
    )
    assert post_chatbot(payload, secret=secret).status_code == 201


def test_the_contact_page_shows_the_conversation(
    post_chatbot: PostChatbot, secret, client, logged_in
):
    contact_id = post_chatbot(conversation(), secret=secret).get_json()["contact_id"]
    logged_in("agent")
    page = client.get(f"/contacts/{contact_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Chatbot conversation (fi)" in html
    assert "Hei, laskussani on virhe." in html


def test_the_text_filter_refuses_exactly_control_characters_and_surrogates():
    # The filter is a regex for speed; this pins it to the Unicode categories it stands for.
    refused = {
        code for code in range(0x110000) if chatbot_payload._FORBIDDEN_IN_TEXT.match(chr(code))
    }
    expected = {
        code
        for code in range(0x110000)
        if unicodedata.category(chr(code)) in ("Cc", "Cs") and chr(code) not in "\n\t"
    }
    assert refused == expected
