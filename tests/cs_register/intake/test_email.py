"""Raw-email intake: parsing, threading, idempotency, linking, the HTTP door and the CLI pipe."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as OutgoingMessage
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.contacts.models import MAX_SUBJECT, Channel, Contact, Direction
from cs_register.db import Database
from cs_register.errors import ValidationFailed
from cs_register.intake import email as email_intake
from cs_register.intake import email_parsing
from cs_register.intake.email_models import EmailMessage
from cs_register.integrations import services as token_services
from tests.support.context import make_context
from tests.support.email import build_message

EMAIL_URL = "/api/v1/intake/email"
RFC822 = "message/rfc822"


def rows(database: Database, model: type[Any]) -> list[Any]:
    with database.session_factory() as session:
        return list(session.scalars(sa.select(model).order_by(model.id)))


def audit(database: Database) -> list[AuditEvent]:
    with database.session_factory() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.action == AuditAction.EMAIL_CONTACT_RECEIVED)
                .order_by(AuditEvent.id)
            )
        )


def contact_of(database: Database, public_id: str) -> Contact:
    with database.session_factory() as session:
        contact = session.scalar(sa.select(Contact).where(Contact.public_id == public_id))
        assert contact is not None
        session.expunge(contact)
        return contact


def assert_nothing_stored(database: Database) -> None:
    assert rows(database, EmailMessage) == []
    assert rows(database, Contact) == []
    assert audit(database) == []


@pytest.fixture
def token(database: Database, clock: Any) -> str:
    with database.unit_of_work() as session:
        _, raw = token_services.create_token(
            make_context(session, None, clock.now), name="mail-relay", scope="email"
        )
    return raw


class Relay:
    """The mail relay's side: posts raw messages with its bearer token."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, raw: bytes, *, content_type: str = RFC822, **headers: str) -> Any:
        return self.client.post(
            EMAIL_URL,
            data=raw,
            headers={**self.headers, "Content-Type": content_type, **headers},
        )


@pytest.fixture
def relay(client: FlaskClient, token: str) -> Relay:
    return Relay(client, token)


# --- parsing ------------------------------------------------------------------------------


def test_encoded_finnish_sender_name_and_subject_are_decoded() -> None:
    raw = (
        b"From: =?utf-8?q?Anna-Liisa_J=C3=A4rvinen?= <Anna.Jarvinen@Example.FI>\r\n"
        b"Subject: =?iso-8859-1?q?P=E4iv=E4=E4?= =?utf-8?b?IG1pdMOk?=\r\n"
        b"Message-ID: <x1@example.fi>\r\n"
        b"\r\n"
        b"Hei!\r\n"
    )
    parsed = email_parsing.parse_email(raw)
    assert parsed.sender_name == "Anna-Liisa Järvinen"
    assert parsed.sender_address == "anna.jarvinen@example.fi"
    assert parsed.subject == "Päivää mitä"
    assert parsed.body == "Hei!"


def test_subject_is_nfc_normalised_and_cut_to_200_characters() -> None:
    decomposed = "a\u0308" * 300  # "ä" as a + combining diaeresis
    parsed = email_parsing.parse_email(build_message(subject=decomposed))
    assert parsed.subject == "ä" * 200


def test_html_only_message_becomes_readable_text() -> None:
    message = OutgoingMessage()
    message["From"] = "asiakas@example.fi"
    message["Message-ID"] = "<html@example.fi>"
    message.set_content(
        "<html><head><style>p {color: red}</style><title>T</title></head><body>"
        "<p>Hei <b>asiakaspalvelu</b>,</p><script>alert('x')</script>"
        "<div>rivi 1<br>rivi 2</div><ul><li>yksi</li><li>kaksi</li></ul></body></html>",
        subtype="html",
    )
    body = email_parsing.parse_email(message.as_bytes()).body
    assert "<" not in body
    assert "alert" not in body
    assert "color" not in body
    lines = [line for line in body.splitlines() if line]
    assert lines == ["Hei asiakaspalvelu,", "rivi 1", "rivi 2", "yksi", "kaksi"]


def test_plain_part_is_preferred_over_html() -> None:
    message = OutgoingMessage()
    message["From"] = "asiakas@example.fi"
    message.set_content("plain version")
    message.add_alternative("<p>html version</p>", subtype="html")
    assert email_parsing.parse_email(message.as_bytes()).body == "plain version"


def test_attachments_are_listed_with_names_and_sizes_not_content() -> None:
    message = OutgoingMessage()
    message["From"] = "asiakas@example.fi"
    message.set_content("Liitteenä kuitti.")
    message.add_attachment(
        b"%PDF-1.7 " + b"x" * 2039, maintype="application", subtype="pdf", filename="kuitti.pdf"
    )
    message.add_attachment(b"\x89PNG" * 10, maintype="image", subtype="png", filename="kuva.png")
    parsed = email_parsing.parse_email(message.as_bytes())
    assert parsed.body == "Liitteenä kuitti."
    assert [(a.filename, a.content_type, a.size_bytes) for a in parsed.attachments] == [
        ("kuitti.pdf", "application/pdf", 2048),
        ("kuva.png", "image/png", 40),
    ]


def test_a_message_without_message_id_gets_a_stable_generated_one() -> None:
    raw = build_message(message_id=None)
    first = email_parsing.parse_email(raw)
    assert first.message_id_generated
    assert first.message_id == email_parsing.generated_message_id(raw)
    assert email_parsing.parse_email(raw).message_id == first.message_id
    assert email_parsing.parse_email(raw + b"more").message_id != first.message_id


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"", "message"),
        (b"   \r\n", "message"),
        (b"\x00\xff\xfe\x89PNG\r\n\x1a\n binary garbage", "message"),
        (b"just some text without any headers", "message"),
        (b"Subject: no sender\r\n\r\nbody", "from"),
        (b"From: \r\nSubject: empty sender\r\n\r\nbody", "from"),
        (b"From: not an address\r\n\r\nbody", "from"),
        (b"From: Someone <someone@>\r\n\r\nbody", "from"),
    ],
)
def test_malformed_messages_are_rejected(raw: bytes, field: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        email_parsing.parse_email(raw)
    assert field in failure.value.errors


_HEADER_LINES = st.lists(
    st.tuples(
        st.sampled_from(["From", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
                         "Content-Type", "Content-Transfer-Encoding", "X-Other"]),
        st.binary(max_size=80),
    ),
    max_size=8,
)  # fmt: skip


@given(headers=_HEADER_LINES, body=st.binary(max_size=400))
@settings(max_examples=300, derandomize=True, deadline=None, database=None)
def test_any_bytes_are_parsed_or_rejected_cleanly(headers: list[tuple[str, bytes]], body: bytes):
    raw = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers)
    raw += b"\r\n" + body
    try:
        parsed = email_parsing.parse_email(raw)
    except ValidationFailed as failure:
        rejected_fields = set(failure.errors)
    else:
        rejected_fields = set()
    if rejected_fields:
        assert rejected_fields <= {"message", "from"}
    else:
        assert "@" in parsed.sender_address
        assert len(parsed.subject) <= MAX_SUBJECT
        # Everything kept must be storable text on every database.
        texts = [parsed.message_id, parsed.sender_name, parsed.sender_address, parsed.subject,
                 parsed.body, parsed.in_reply_to or "", *parsed.references,
                 *(a.filename + a.content_type for a in parsed.attachments)]  # fmt: skip
        for text in texts:
            assert "\x00" not in text
            text.encode("utf-8")  # raises on lone surrogates


# --- the HTTP door ------------------------------------------------------------------------


def test_an_email_becomes_an_inbound_email_contact(relay: Relay, database: Database, clock):
    sent = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    response = relay.post(build_message(date=sent))
    assert response.status_code == 201
    body = response.get_json()
    assert body["customer_linked"] is False
    assert body["created"] is True
    contact = contact_of(database, body["contact_id"])
    assert contact.channel is Channel.EMAIL
    assert contact.direction is Direction.INBOUND
    assert contact.subject == "Laskuni on väärin"
    assert contact.notes == "Hei,\nlaskussa on virhe."
    assert contact.occurred_at == sent
    assert contact.customer_id is None
    [email] = rows(database, EmailMessage)
    assert email.sender_address == "matti@example.fi"
    assert email.sender_name == "Matti Meikäläinen"
    assert email.message_id == "<first@mail.example.fi>"


def test_the_contact_is_dated_on_arrival_without_a_usable_date(relay, database, clock):
    future = clock.now + timedelta(days=3)
    first = relay.post(build_message(message_id="<no-date@x>")).get_json()
    second = relay.post(build_message(message_id="<future@x>", date=future)).get_json()
    assert contact_of(database, first["contact_id"]).occurred_at == clock.now
    assert contact_of(database, second["contact_id"]).occurred_at == clock.now


def test_the_same_message_twice_is_one_contact(relay: Relay, database: Database):
    raw = build_message()
    first = relay.post(raw)
    again = relay.post(raw)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["contact_id"] == first.get_json()["contact_id"]
    assert again.get_json()["created"] is False
    assert len(rows(database, Contact)) == 1
    assert len(audit(database)) == 1


def test_the_same_message_without_message_id_twice_is_one_contact(relay, database):
    raw = build_message(message_id=None)
    assert relay.post(raw).status_code == 201
    assert relay.post(raw).status_code == 200
    assert len(rows(database, Contact)) == 1


def test_a_reply_is_threaded_and_linked_like_its_parent(relay, database, make_customer):
    customer = make_customer(email="matti@example.fi")
    first = relay.post(build_message()).get_json()
    assert first["customer_linked"] is True
    # The reply comes from another address, but the thread says whose matter it is.
    reply = relay.post(
        build_message(
            sender="Matin puoliso <other@example.fi>",
            subject="Re: Laskuni on väärin",
            message_id="<second@mail.example.fi>",
            In_Reply_To="<first@mail.example.fi>",
            References="<first@mail.example.fi>",
        )
    )
    assert reply.status_code == 201
    assert reply.get_json()["threaded"] is True
    assert reply.get_json()["contact_id"] != first["contact_id"]
    first_contact = contact_of(database, first["contact_id"])
    reply_contact = contact_of(database, reply.get_json()["contact_id"])
    assert (
        reply_contact.customer_id
        == first_contact.customer_id
        == customer_id(database, customer.public_id)
    )
    emails = {e.message_id: e for e in rows(database, EmailMessage)}
    second = emails["<second@mail.example.fi>"]
    assert second.parent_contact_id == first_contact.id
    assert second.thread_root_contact_id == first_contact.id
    assert second.in_reply_to == "<first@mail.example.fi>"
    # A third message threads through References alone and keeps the thread's root.
    third = relay.post(
        build_message(
            message_id="<third@x>",
            References="<first@mail.example.fi> <second@mail.example.fi> <unknown@x>",
        )
    ).get_json()
    third_row = {e.message_id: e for e in rows(database, EmailMessage)}["<third@x>"]
    assert third_row.parent_contact_id == reply_contact.id
    assert third_row.thread_root_contact_id == first_contact.id
    assert third["customer_linked"] is True


def customer_id(database: Database, public_id: str) -> int:
    from cs_register.customers.models import Customer

    with database.session_factory() as session:
        found = session.scalar(sa.select(Customer.id).where(Customer.public_id == public_id))
        assert found is not None
        return found


def test_a_reply_to_an_unlinked_contact_stays_in_the_thread_unlinked(relay, database):
    relay.post(build_message()).get_json()
    reply = relay.post(
        build_message(message_id="<r@x>", In_Reply_To="<first@mail.example.fi>")
    ).get_json()
    assert reply["threaded"] is True
    assert reply["customer_linked"] is False


def test_sender_address_links_only_an_unambiguous_customer(relay, database, make_customer):
    make_customer(email="Yksi@Example.fi")
    make_customer(email="kaksi@example.fi", given_names="Maija")
    make_customer(email="kaksi@example.fi", given_names="Liisa")
    one = relay.post(build_message(sender="YKSI@example.fi", message_id="<1@x>")).get_json()
    two = relay.post(build_message(sender="kaksi@example.fi", message_id="<2@x>")).get_json()
    assert one["customer_linked"] is True
    assert two["customer_linked"] is False


def test_the_audit_event_names_the_integration_and_holds_no_personal_data(relay, database):
    raw = build_message(sender="Matti Meikäläinen <matti@example.fi>")
    contact_id = relay.post(raw).get_json()["contact_id"]
    [event] = audit(database)
    assert event.actor_label == "integration:mail-relay"
    assert event.details["contact"] == contact_id
    text = json.dumps(event.details, ensure_ascii=False)
    for leak in ("matti", "Meikäläinen", "Laskuni", "first@mail"):
        assert leak not in text


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff\xfe\x89PNG\r\n\x1a\n binary garbage",
        b"no headers at all",
        b"Subject: no sender\r\nMessage-ID: <m@x>\r\n\r\nbody",
        b"",
    ],
)
def test_malformed_messages_get_422_and_nothing_is_stored(relay, database, raw):
    response = relay.post(raw)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["errors"]
    assert_nothing_stored(database)


def test_undecodable_header_bytes_are_stored_safely_or_refused(relay, database):
    raw = (
        b"From: Lis\xe4 \xff <lisa@example.fi>\r\n"
        b"Subject: Hyv\xe4\x00 p\xe4iv\xe4\r\n"
        b"Message-ID: <\xff\x00weird@example.fi>\r\n"
        b"In-Reply-To: <\xfe@x>\r\n"
        b"Content-Type: text/plain; charset=unknown-8bit\r\n"
        b"\r\n"
        b"Hei \xe4\x00\xff\r\n"
    )
    response = relay.post(raw)
    assert response.status_code == 201
    [email] = rows(database, EmailMessage)
    assert email.message_id_generated  # the mangled id was not usable
    contact = contact_of(database, response.get_json()["contact_id"])
    assert "\x00" not in contact.subject + contact.notes
    assert relay.post(raw).status_code == 200


def test_a_token_is_required(client: FlaskClient, database: Database):
    response = client.post(EMAIL_URL, data=build_message(), content_type=RFC822)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    bad = client.post(
        EMAIL_URL,
        data=build_message(),
        headers={"Content-Type": RFC822, "Authorization": "Bearer csr_nope"},
    )
    assert bad.status_code == 401
    assert_nothing_stored(database)


def test_other_content_types_get_415(relay: Relay, database: Database):
    response = relay.post(build_message(), content_type="text/plain")
    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"
    assert_nothing_stored(database)


def test_an_oversized_message_gets_413(relay, database, monkeypatch):
    monkeypatch.setattr(email_parsing, "MAX_MESSAGE_BYTES", 1000)
    response = relay.post(build_message(body="x" * 2000))
    assert response.status_code == 413
    assert_nothing_stored(database)


def test_an_email_never_needs_redis(relay, app: Flask, monkeypatch):
    import jobs.queue

    def no_redis(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("email intake must not touch Redis")

    monkeypatch.setattr(jobs.queue, "get_queue", no_redis)
    assert relay.post(build_message()).status_code == 201


# --- the CLI pipe -------------------------------------------------------------------------


def test_the_cli_reads_stdin_and_prints_the_contact_id(app: Flask, database: Database):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["intake", "email"], input=build_message())
    assert result.exit_code == 0, result.output
    contact_id = result.stdout.strip()
    contact = contact_of(database, contact_id)
    assert contact.channel is Channel.EMAIL
    [event] = audit(database)
    assert event.actor_label == email_intake.CLI_ACTOR.audit_label
    again = runner.invoke(args=["intake", "email"], input=build_message())
    assert again.exit_code == 0
    assert again.stdout.strip() == contact_id
    assert len(rows(database, Contact)) == 1


def test_the_cli_fails_with_the_reason_and_stores_nothing(app: Flask, database: Database):
    result = app.test_cli_runner().invoke(
        args=["intake", "email"], input=b"Subject: x\r\n\r\nno sender"
    )
    assert result.exit_code != 0
    assert "From" in result.output
    assert_nothing_stored(database)


# --- the console --------------------------------------------------------------------------


def test_the_contact_page_shows_the_email_its_thread_and_attachment_notes(relay, client, logged_in):
    first = relay.post(build_message()).get_json()
    reply = OutgoingMessage()
    reply["From"] = "Matti Meikäläinen <matti@example.fi>"
    reply["Subject"] = "Re: Laskuni on väärin"
    reply["Message-ID"] = "<second@mail.example.fi>"
    reply["In-Reply-To"] = "<first@mail.example.fi>"
    reply.set_content("Liitteenä kuitti.")
    reply.add_attachment(
        b"%PDF-1.7 " + b"x" * 2039, maintype="application", subtype="pdf", filename="kuitti.pdf"
    )
    second = relay.post(reply.as_bytes()).get_json()
    logged_in("agent")

    page = client.get(f"/contacts/{second['contact_id']}")

    assert page.status_code == 200
    html = page.text
    assert "<h2>Email</h2>" in html
    assert "Matti Meikäläinen &lt;matti@example.fi&gt;" in html
    assert "&lt;second@mail.example.fi&gt;" in html
    assert f'href="/contacts/{first["contact_id"]}"' in html
    assert "kuitti.pdf" in html
    assert "application/pdf" in html
    assert "2.0 KB" in html
    assert "Attachments are not stored" in html
    first_page = client.get(f"/contacts/{first['contact_id']}").text
    assert "A new conversation." in first_page
    assert "kuitti.pdf" not in first_page


# --- identity codes in the email's free text ---------------------------------------------------

IDENTITY_CODE = "131052-308T"


def test_identity_codes_in_subject_body_sender_and_attachment_names_are_redacted(
    relay: Relay, database: Database, client: FlaskClient, logged_in: Any
) -> None:
    message = OutgoingMessage()
    message["From"] = f"Matti {IDENTITY_CODE} <matti@example.fi>"
    message["To"] = "asiakaspalvelu@example.com"
    message["Subject"] = f"Hetu {IDENTITY_CODE} laskussa"
    message["Message-ID"] = "<code@mail.example.fi>"
    message.set_content(f"Hei,\nhenkilötunnukseni on {IDENTITY_CODE.lower()} ja 010594 Y 9032.\n")
    message.add_attachment(
        b"%PDF-1.4", maintype="application", subtype="pdf", filename=f"{IDENTITY_CODE}.pdf"
    )
    response = relay.post(message.as_bytes())
    assert response.status_code == 201
    contact = contact_of(database, response.get_json()["contact_id"])
    (email_row,) = rows(database, EmailMessage)
    stored = " ".join(
        [contact.subject, contact.notes, email_row.sender_name, json.dumps(email_row.attachments)]
    )
    for spelling in (IDENTITY_CODE, IDENTITY_CODE.lower(), "010594", "308T"):
        assert spelling not in stored
    assert contact.subject == "Hetu [identity code removed] laskussa"
    assert contact.notes.count("[identity code removed]") == 3
    # The agent sees the redacted text on the contact page, never the code.
    logged_in("agent")
    page = client.get(f"/contacts/{contact.public_id}").get_data(as_text=True)
    assert "[identity code removed]" in page
    assert IDENTITY_CODE not in page
