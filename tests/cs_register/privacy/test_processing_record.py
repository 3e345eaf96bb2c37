"""The record of processing activities is built from the registry, the live settings and the
configured integrations, and docs/processing-record.md is its output for the defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cs_register.integrations import services as token_services
from cs_register.integrations.webhooks import create_webhook_secret
from cs_register.personal_data import registry
from tests.support.context import make_context

DOC = Path(__file__).resolve().parents[3] / "docs" / "processing-record.md"


def _record(app) -> str:
    result = app.test_cli_runner().invoke(args=["privacy", "processing-record"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_document_is_the_commands_output_for_the_default_settings(app) -> None:
    assert DOC.read_text(encoding="utf-8") == _record(app), (
        "docs/processing-record.md has drifted: regenerate it with"
        " `flask --app app privacy processing-record > docs/processing-record.md`"
    )


def test_every_registered_table_and_column_is_in_it(app) -> None:
    record = _record(app)
    with app.app_context():
        claims = registry().claimed_tables().values()
    for claim in claims:
        assert f"`{claim.table}`" in record
        for column in claim.columns:
            assert f"`{column}`" in record


def test_it_follows_the_live_settings(app, settings, clock, database) -> None:
    from app import create_app

    changed = dataclasses.replace(
        settings,
        retention_months=2,
        contact_retention_days=90,
        audit_retention_years=7,
        prohibitions=("direct_marketing", "telephone_sales"),
    )
    record = _record(create_app(changed, clock=clock, database=database))
    assert "| Call recordings | 2 months after the call" in record
    assert "90 days after the contact" in record
    assert "| Audit trail | 7 years after each event" in record
    assert "`telephone_sales`" in record


def test_the_recipients_are_the_integrations_configured(app, database, clock, keyring) -> None:
    assert "No integrations are configured" in _record(app)
    with database.unit_of_work() as session:
        ctx = make_context(session, None, clock.now)
        token_services.create_token(ctx, name="crm", scope="marketing")
        token_services.create_token(ctx, name="pbx-primary")
        token_services.create_token(ctx, name="mail-relay", scope="email")
        create_webhook_secret(ctx, keyring, name="chatbot")
        _, revoked = token_services.create_token(ctx, name="old-pbx")
    with database.unit_of_work() as session:
        token = token_services.get_token_by_name(session, "old-pbx")
        token_services.revoke_token(
            make_context(session, None, clock.now), public_id=token.public_id
        )
    record = _record(app)
    assert "- `crm`: receives prohibition and consent changes" in record
    assert "- `pbx-primary`: delivers calls and recordings" in record
    assert "- `mail-relay`: delivers emails sent to customer service" in record
    assert "- `chatbot`: posts chatbot conversations" in record
    assert "old-pbx" not in record
