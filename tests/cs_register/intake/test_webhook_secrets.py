"""Webhook secrets: stored encrypted, shown once, rotated and retired from the console and the
command line, every change audited."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.errors import Conflict, PermissionDenied, ValidationFailed
from cs_register.integrations import webhooks
from cs_register.integrations.models import WebhookSecret
from tests.cs_register.intake.conftest import PostChatbot, conversation
from tests.support.context import make_context

SECRET_SHAPE = re.compile(r"whsec_[A-Za-z0-9+/]{43}=")


def audit(database, action: AuditAction) -> list[AuditEvent]:
    with database.unit_of_work() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def stored(database, name: str) -> WebhookSecret | None:
    with database.unit_of_work() as session:
        return session.scalar(sa.select(WebhookSecret).where(WebhookSecret.name == name))


# --- service -----------------------------------------------------------------------------


def test_a_secret_is_32_random_bytes_in_whsec_form(make_secret):
    _, raw = make_secret()
    assert SECRET_SHAPE.fullmatch(raw)
    assert len(base64.b64decode(raw.removeprefix("whsec_"))) == 32
    assert make_secret("other")[1] != raw


def test_the_secret_is_stored_only_encrypted(make_secret, database, database_url, keyring):
    row, raw = make_secret()
    key = base64.b64decode(raw.removeprefix("whsec_"))
    assert raw.encode() not in row.secret_ciphertext
    assert key not in row.secret_ciphertext
    if database_url.startswith("sqlite"):
        database.dispose()  # flush the WAL into the file before reading its bytes
        raw_file = Path(database_url.removeprefix("sqlite:///")).read_bytes()
        assert raw.encode() not in raw_file
        assert raw.removeprefix("whsec_").encode() not in raw_file
        assert key not in raw_file
    else:
        with database.engine.connect() as connection:
            dump = " ".join(
                str(value)
                for record in connection.execute(sa.text("SELECT * FROM webhook_secrets"))
                for value in record
            )
        assert raw.removeprefix("whsec_") not in dump
    with database.unit_of_work() as session:
        assert webhooks.active_webhook_keys(session, keyring) == [key]


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(make_secret, database, keyring):
    from cs_register.crypto import DecryptionError

    first, _ = make_secret("first")
    second, _ = make_secret("second")
    with pytest.raises(DecryptionError):
        keyring.webhook_secret.decrypt(first.secret_ciphertext, row_id=second.public_id)


def test_names_are_validated_and_unique(make_secret, database, keyring, clock):
    make_secret("chatbot")
    with database.unit_of_work() as session:
        with pytest.raises(Conflict):
            webhooks.create_webhook_secret(
                make_context(session, None, clock.now), keyring, name="Chatbot"
            )
        with pytest.raises(ValidationFailed):
            webhooks.create_webhook_secret(
                make_context(session, None, clock.now), keyring, name="no spaces"
            )


def test_retired_secrets_give_no_keys_and_cannot_be_retired_or_rotated_again(
    make_secret, database, keyring, clock
):
    row, _ = make_secret()
    with database.unit_of_work() as session:
        webhooks.retire_webhook_secret(
            make_context(session, None, clock.now), public_id=row.public_id
        )
    with database.unit_of_work() as session:
        assert webhooks.active_webhook_keys(session, keyring) == []
        with pytest.raises(Conflict):
            webhooks.retire_webhook_secret(
                make_context(session, None, clock.now), public_id=row.public_id
            )
        with pytest.raises(Conflict):
            webhooks.rotate_webhook_secret(
                make_context(session, None, clock.now),
                keyring,
                public_id=row.public_id,
                name="next",
            )


def test_only_admins_manage_secrets(db_session, make_staff, keyring, clock):
    supervisor = make_staff("supervisor")
    with pytest.raises(PermissionDenied):
        webhooks.create_webhook_secret(
            make_context(db_session, supervisor, clock.now), keyring, name="chatbot"
        )
    with pytest.raises(PermissionDenied):
        webhooks.list_webhook_secrets(make_context(db_session, supervisor, None))


# --- console -----------------------------------------------------------------------------


def _shown_secret(html: str) -> str:
    match = SECRET_SHAPE.search(html)
    assert match, html
    return match.group(0)


def test_an_admin_creates_a_secret_that_is_shown_once_and_works(
    client, logged_in, database, post_chatbot: PostChatbot
):
    admin = logged_in("admin")
    assert client.get("/admin/integrations/webhook-secrets/new").status_code == 200
    response = client.post("/admin/integrations/webhook-secrets/new", data={"name": "chatbot"})
    assert response.status_code == 201
    raw = _shown_secret(response.get_data(as_text=True))
    assert response.headers["Cache-Control"] == "no-store"

    listing = client.get("/admin/integrations/webhook-secrets/").get_data(as_text=True)
    assert "chatbot" in listing
    assert "active" in listing
    assert raw not in listing
    assert raw.removeprefix("whsec_")[:12] not in listing

    [event] = audit(database, AuditAction.WEBHOOK_SECRET_CREATED)
    assert event.actor_id == admin.id
    assert event.details == {"name": "chatbot"}
    assert post_chatbot(conversation(), secret=raw).status_code == 201


def test_a_bad_or_taken_name_re_renders_the_form(client, logged_in, make_secret):
    make_secret("chatbot")
    logged_in("admin")
    bad = client.post("/admin/integrations/webhook-secrets/new", data={"name": "a b"})
    assert bad.status_code == 422
    assert "3-64 characters" in bad.get_data(as_text=True)
    taken = client.post("/admin/integrations/webhook-secrets/new", data={"name": "chatbot"})
    assert taken.status_code == 409
    assert "already exists" in taken.get_data(as_text=True)


def test_rotating_keeps_the_old_secret_active_and_says_to_retire_it(
    client, logged_in, make_secret, database, post_chatbot: PostChatbot
):
    old_row, old_raw = make_secret("chatbot")
    logged_in("admin")
    url = f"/admin/integrations/webhook-secrets/{old_row.public_id}/rotate"
    form = client.get(url).get_data(as_text=True)
    assert 'value="chatbot-20261123"' in form
    response = client.post(url, data={"name": "chatbot-2"})
    assert response.status_code == 201
    html = response.get_data(as_text=True)
    new_raw = _shown_secret(html)
    assert "retire chatbot" in html
    assert post_chatbot(conversation(), secret=old_raw).status_code == 201
    assert post_chatbot(conversation(), secret=new_raw).status_code == 201
    events = audit(database, AuditAction.WEBHOOK_SECRET_CREATED)
    assert events[-1].details == {"name": "chatbot-2", "rotates": old_row.public_id}


def test_retiring_from_the_console_refuses_its_signatures(
    client, logged_in, make_secret, database, post_chatbot: PostChatbot
):
    row, raw = make_secret("chatbot")
    admin = logged_in("admin")
    response = client.post(
        f"/admin/integrations/webhook-secrets/{row.public_id}/retire", follow_redirects=True
    )
    assert "was retired" in response.get_data(as_text=True)
    assert post_chatbot(conversation(), secret=raw).status_code == 401
    retired = stored(database, "chatbot")
    assert retired is not None
    assert retired.retired_by_id == admin.id
    [event] = audit(database, AuditAction.WEBHOOK_SECRET_RETIRED)
    assert event.actor_id == admin.id
    again = client.post(
        f"/admin/integrations/webhook-secrets/{row.public_id}/retire", follow_redirects=True
    )
    assert "already been retired" in again.get_data(as_text=True)


def test_unknown_secrets_are_404(client, logged_in):
    logged_in("admin")
    unknown = "00000000-0000-4000-8000-000000000000"
    assert client.get(f"/admin/integrations/webhook-secrets/{unknown}/rotate").status_code == 404
    assert client.post(f"/admin/integrations/webhook-secrets/{unknown}/retire").status_code == 404


# --- command line ------------------------------------------------------------------------


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=["integrations", "webhook-secret", *args])

    return invoke


def test_the_cli_creates_and_retires_secrets(cli, database, post_chatbot: PostChatbot):
    result = cli("create", "chatbot")
    assert result.exit_code == 0, result.output
    raw = _shown_secret(result.output)
    assert post_chatbot(conversation(), secret=raw).status_code == 201
    [created] = audit(database, AuditAction.WEBHOOK_SECRET_CREATED)
    assert created.actor_label == "cli"

    result = cli("retire", "chatbot")
    assert result.exit_code == 0, result.output
    assert "Retired webhook secret chatbot" in result.output
    assert post_chatbot(conversation(), secret=raw).status_code == 401
    [retired] = audit(database, AuditAction.WEBHOOK_SECRET_RETIRED)
    assert retired.actor_label == "cli"


def test_cli_errors_are_clean(cli):
    assert cli("create", "chatbot").exit_code == 0
    duplicate = cli("create", "chatbot")
    assert duplicate.exit_code == 1
    assert "already exists" in duplicate.output
    unknown = cli("retire", "nobody")
    assert unknown.exit_code == 1
    assert "No webhook secret has that name" in unknown.output
