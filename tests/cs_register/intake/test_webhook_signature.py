"""Standard Webhooks authenticity on POST /api/v1/intake/chatbot: every refusal is a 401 that
stores nothing, and only the raw bytes that were signed are accepted."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from cs_register.contacts.models import Contact
from cs_register.intake.api import MAX_CHATBOT_BODY_BYTES
from cs_register.intake.models import ChatbotConversation, WebhookDelivery
from tests.cs_register.intake.conftest import (
    CHATBOT_URL,
    PostChatbot,
    conversation,
    count_rows,
)
from tests.cs_register.intake.signing import new_secret, sign, signature
from tests.support.context import make_context


@pytest.fixture
def nothing_stored(database) -> Callable[[], None]:
    def _check() -> None:
        for model in (Contact, ChatbotConversation, WebhookDelivery):
            assert count_rows(database, model) == 0, model.__name__

    return _check


def now_ts(clock) -> int:
    return int(clock.now.timestamp())


def assert_unauthorized(response) -> None:
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 401
    # The challenge names the signature scheme; a token would never be accepted here.
    assert response.headers["WWW-Authenticate"] == "Webhook-Signature"


def test_a_valid_signature_is_accepted(post_chatbot: PostChatbot, secret, database):
    assert post_chatbot(conversation(), secret=secret).status_code == 201
    assert count_rows(database, Contact) == 1


def test_changing_one_byte_of_the_body_breaks_the_signature(client, clock, secret, nothing_stored):
    body = json.dumps(conversation()).encode()
    headers = sign(secret, body, webhook_id="msg_1", timestamp=now_ts(clock))
    tampered = body.replace(b"invoice", b"invoicE")
    assert tampered != body
    assert len(tampered) == len(body)
    response = client.post(
        CHATBOT_URL, data=tampered, headers={**headers, "Content-Type": "application/json"}
    )
    assert_unauthorized(response)
    nothing_stored()


def test_a_signature_made_with_another_secret_is_refused(
    post_chatbot: PostChatbot, secret, nothing_stored
):
    assert_unauthorized(post_chatbot(conversation(), secret=new_secret()))
    nothing_stored()


def test_without_any_active_secret_everything_is_refused(post_chatbot: PostChatbot, nothing_stored):
    assert_unauthorized(post_chatbot(conversation(), secret=new_secret()))
    nothing_stored()


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_header_is_required(client, clock, secret, nothing_stored, missing):
    body = json.dumps(conversation()).encode()
    headers = sign(secret, body, webhook_id="msg_1", timestamp=now_ts(clock))
    del headers[missing]
    response = client.post(
        CHATBOT_URL, data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert_unauthorized(response)
    nothing_stored()


def _valid_signature_bytes(secret: str, body: bytes, clock) -> bytes:
    value = signature(secret, body, webhook_id="msg_1", timestamp=now_ts(clock))
    return base64.b64decode(value.removeprefix("v1,"))


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda good: "v1," + base64.b64encode(good).decode() + "!!", id="bad-base64"),
        pytest.param(lambda good: "v1,%%%not-base64%%%", id="not-base64"),
        pytest.param(lambda good: "v1," + base64.b64encode(good[:31]).decode(), id="too-short"),
        pytest.param(lambda good: "v1," + base64.b64encode(good + b"x").decode(), id="too-long"),
        pytest.param(lambda good: "v2," + base64.b64encode(good).decode(), id="other-version"),
        pytest.param(lambda good: base64.b64encode(good).decode(), id="no-version"),
        pytest.param(lambda good: "v1,", id="empty-signature"),
        pytest.param(lambda good: " ", id="blank"),
        pytest.param(lambda good: "v1," + "A" * 2000, id="oversized"),
    ],
)
def test_malformed_signatures_are_refused_never_a_server_error(
    client, clock, secret, nothing_stored, make_header
):
    body = json.dumps(conversation()).encode()
    good = _valid_signature_bytes(secret, body, clock)
    header = make_header(good)
    response = client.post(
        CHATBOT_URL,
        data=body,
        headers={
            "Content-Type": "application/json",
            "webhook-id": "msg_1",
            "webhook-timestamp": str(now_ts(clock)),
            "webhook-signature": header,
        },
    )
    assert_unauthorized(response)
    nothing_stored()


@pytest.mark.parametrize("timestamp", ["", "abc", "-5", "1.5e9", "١٧٠٠٠٠٠٠٠٠", "9" * 40], ids=repr)
def test_malformed_timestamps_are_refused(client, clock, secret, nothing_stored, timestamp):
    body = json.dumps(conversation()).encode()
    headers = sign(secret, body, webhook_id="msg_1", timestamp=now_ts(clock))
    headers["webhook-timestamp"] = timestamp
    response = client.post(
        CHATBOT_URL, data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert_unauthorized(response)
    nothing_stored()


@pytest.mark.parametrize("offset", [-301, 301, -10_000, 10_000])
def test_timestamps_more_than_five_minutes_away_are_refused(
    post_chatbot: PostChatbot, clock, secret, nothing_stored, offset
):
    response = post_chatbot(conversation(), secret=secret, timestamp=now_ts(clock) + offset)
    assert_unauthorized(response)
    nothing_stored()


@pytest.mark.parametrize("offset", [-299, -300, 299, 300])
def test_timestamps_within_five_minutes_are_accepted(
    post_chatbot: PostChatbot, clock, secret, offset
):
    response = post_chatbot(conversation(), secret=secret, timestamp=now_ts(clock) + offset)
    assert response.status_code == 201


def test_the_tolerance_follows_the_app_clock(post_chatbot: PostChatbot, clock, secret):
    signed_at = now_ts(clock)
    clock.advance(timedelta(seconds=301))
    assert_unauthorized(post_chatbot(conversation(), secret=secret, timestamp=signed_at))


def test_one_valid_signature_among_several_is_enough(client, clock, secret, database):
    body = json.dumps(conversation()).encode()
    headers = sign(secret, body, webhook_id="msg_1", timestamp=now_ts(clock))
    wrong = signature(new_secret(), body, webhook_id="msg_1", timestamp=now_ts(clock))
    headers["webhook-signature"] = f"v1a,xyz {wrong} {headers['webhook-signature']}"
    response = client.post(
        CHATBOT_URL, data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 201
    assert count_rows(database, Contact) == 1


def test_the_signature_covers_the_webhook_id(client, clock, secret, nothing_stored):
    body = json.dumps(conversation()).encode()
    headers = sign(secret, body, webhook_id="msg_1", timestamp=now_ts(clock))
    headers["webhook-id"] = "msg_2"
    response = client.post(
        CHATBOT_URL, data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert_unauthorized(response)
    nothing_stored()


def test_the_raw_body_is_verified_not_a_re_serialisation(client, clock, secret, nothing_stored):
    payload = conversation()
    compact = json.dumps(payload, separators=(",", ":")).encode()
    spaced = json.dumps(payload, indent=2).encode()
    assert json.loads(compact) == json.loads(spaced)
    headers = sign(secret, compact, webhook_id="msg_1", timestamp=now_ts(clock))
    response = client.post(
        CHATBOT_URL, data=spaced, headers={**headers, "Content-Type": "application/json"}
    )
    assert_unauthorized(response)
    nothing_stored()


def test_during_a_rotation_both_secrets_work_until_the_old_one_is_retired(
    app, post_chatbot: PostChatbot, make_secret, database, keyring, clock
):
    from cs_register.integrations import webhooks

    old_row, old_secret = make_secret("chatbot-2025")
    with database.unit_of_work() as session:
        _, _, new_secret_value = webhooks.rotate_webhook_secret(
            make_context(session, None, clock.now),
            keyring,
            public_id=old_row.public_id,
            name="chatbot-2026",
        )
    assert post_chatbot(conversation(), secret=old_secret).status_code == 201
    assert post_chatbot(conversation(), secret=new_secret_value).status_code == 201

    with database.unit_of_work() as session:
        webhooks.retire_webhook_secret(
            make_context(session, None, clock.now), public_id=old_row.public_id
        )
    assert_unauthorized(post_chatbot(conversation(), secret=old_secret))
    assert post_chatbot(conversation(), secret=new_secret_value).status_code == 201
    assert count_rows(database, Contact) == 3


def test_a_replayed_delivery_gets_the_original_answer_and_creates_nothing(
    client, clock, secret, database
):
    body = json.dumps(conversation(handover=True)).encode()
    headers = {
        **sign(secret, body, webhook_id="msg_replay", timestamp=now_ts(clock)),
        "Content-Type": "application/json",
    }
    first = client.post(CHATBOT_URL, data=body, headers=headers)
    clock.advance(timedelta(seconds=30))
    second = client.post(CHATBOT_URL, data=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert count_rows(database, Contact) == 1
    assert count_rows(database, WebhookDelivery) == 1


def test_a_body_over_the_limit_is_413_and_stores_nothing(
    post_chatbot: PostChatbot, secret, nothing_stored
):
    payload = conversation(padding="x" * MAX_CHATBOT_BODY_BYTES)
    response = post_chatbot(payload, secret=secret)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    nothing_stored()


def test_a_chunked_body_over_the_limit_is_413(app, clock, secret, nothing_stored):
    body = json.dumps(conversation(padding="x" * MAX_CHATBOT_BODY_BYTES)).encode()
    headers = sign(secret, body, webhook_id="msg_1", timestamp=now_ts(clock))
    builder = EnvironBuilder(
        path=CHATBOT_URL,
        method="POST",
        data=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    environ = builder.get_environ()
    # What a server hands over for `Transfer-Encoding: chunked`: no length, a terminated stream.
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    # Straight to the WSGI app: the test client would drop `wsgi.input_terminated`.
    _, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("413")
    nothing_stored()


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_a_content_type_other_than_json_is_415(
    post_chatbot: PostChatbot, secret, nothing_stored, content_type
):
    response = post_chatbot(conversation(), secret=secret, content_type=content_type)
    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"
    nothing_stored()


def test_json_with_a_charset_is_accepted(post_chatbot: PostChatbot, secret):
    response = post_chatbot(
        conversation(), secret=secret, content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{", b'{"a": NaN}', '{"a": "\u00e4"}'.encode("latin-1"), b"[" * 50_000],
    ids=["text", "truncated", "nan", "not-utf8", "deeply-nested"],
)
def test_a_signed_body_that_is_not_json_is_400(
    post_chatbot: PostChatbot, secret, nothing_stored, body
):
    response = post_chatbot(body, secret=secret)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    nothing_stored()


def test_a_failed_signature_is_logged_without_the_body(post_chatbot: PostChatbot, secret, caplog):
    payload = conversation(customer={"email": "maija.virtanen@example.fi"})
    with caplog.at_level("WARNING"):
        post_chatbot(payload, secret=new_secret())
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "webhook signature refused" in messages
    assert "maija" not in messages.lower()


def test_a_chunked_body_within_the_limit_is_accepted(app, clock, secret, database):
    body = json.dumps(conversation()).encode()
    headers = sign(secret, body, webhook_id="msg_chunked", timestamp=now_ts(clock))
    environ = EnvironBuilder(
        path=CHATBOT_URL,
        method="POST",
        data=body,
        headers={**headers, "Content-Type": "application/json"},
    ).get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    _, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("201")
    assert count_rows(database, Contact) == 1


def test_the_signature_is_checked_before_the_content_type(
    post_chatbot: PostChatbot, secret, nothing_stored
):
    response = post_chatbot(conversation(), secret=new_secret(), content_type="text/plain")
    assert_unauthorized(response)
    nothing_stored()


def test_a_signature_in_the_url_safe_alphabet_is_refused(client, clock, secret, nothing_stored):
    # Find a body whose signature has a '+' or '/', so the URL-safe spelling really differs.
    for attempt in range(200):
        body = json.dumps(conversation(attempt=attempt)).encode()
        good = _valid_signature_bytes(secret, body, clock)
        if base64.urlsafe_b64encode(good) != base64.b64encode(good):
            break
    else:
        pytest.fail("no signature with '+' or '/' in 200 attempts")
    response = client.post(
        CHATBOT_URL,
        data=body,
        headers={
            "Content-Type": "application/json",
            "webhook-id": "msg_1",
            "webhook-timestamp": str(now_ts(clock)),
            "webhook-signature": "v1," + base64.urlsafe_b64encode(good).decode(),
        },
    )
    assert_unauthorized(response)
    nothing_stored()
