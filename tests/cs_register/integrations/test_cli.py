"""`flask integrations ...` through Click's test runner against the test database."""

from __future__ import annotations

import re

import pytest

from cs_register.audit.models import AuditAction
from tests.cs_register.integrations.conftest import (
    PROBE_URL,
    audit_events,
    bearer,
    stored_token,
)


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args):
        return runner.invoke(args=["integrations", *args])

    return invoke


def printed_token(output: str) -> str:
    match = re.search(r"Token \(shown once[^)]*\): (csr_\S+)", output)
    assert match, output
    return match.group(1)


def test_create_token_prints_a_working_token_once(cli, client, database):
    result = cli("create-token", "PBX-Primary")

    assert result.exit_code == 0, result.output
    raw = printed_token(result.output)
    assert result.output.count(raw) == 1
    assert "Created integration token pbx-primary (telephony)." in result.output
    assert client.get(PROBE_URL, headers=bearer(raw)).status_code == 404
    (event,) = audit_events(database, AuditAction.INTEGRATION_TOKEN_CREATED)
    assert (event.actor_id, event.actor_label) == (None, "cli")


def test_create_token_refuses_bad_and_taken_names(cli, database):
    assert cli("create-token", "pbx-primary").exit_code == 0
    taken = cli("create-token", "pbx-primary")
    assert taken.exit_code == 1
    assert "already exists" in taken.output
    bad = cli("create-token", "no spaces")
    assert bad.exit_code == 1
    assert "3-64 characters" in bad.output
    assert stored_token(database, "no spaces") is None


def test_list_shows_names_and_prefixes_but_never_tokens(cli, client):
    assert cli("list").output.strip() == "No integration tokens."
    raw = printed_token(cli("create-token", "pbx-primary").output)
    cli("create-token", "mail-relay")
    client.get(PROBE_URL, headers=bearer(raw))

    output = cli("list").output

    lines = output.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["mail-relay", "pbx-primary"]
    assert f"csr_{raw[4:12]}..." in output
    assert raw[12:] not in output
    assert "last used never" in lines[0]
    assert "last used 23.11.2026 11:00" in lines[1]
    assert all(line.rstrip().endswith("active") for line in lines)


def test_revoke_stops_the_token_working(cli, client, database):
    raw = printed_token(cli("create-token", "pbx-primary").output)

    result = cli("revoke", "pbx-primary")

    assert result.exit_code == 0, result.output
    assert "Revoked integration token pbx-primary." in result.output
    assert client.get(PROBE_URL, headers=bearer(raw)).status_code == 401
    assert "revoked 23.11.2026 11:00 by cli" in cli("list").output
    assert stored_token(database, "pbx-primary").revoked_by_id is None


def test_revoke_of_an_unknown_or_revoked_token_fails_cleanly(cli):
    unknown = cli("revoke", "nobody")
    assert unknown.exit_code == 1
    assert "No integration token has that name." in unknown.output
    cli("create-token", "pbx-primary")
    cli("revoke", "pbx-primary")
    again = cli("revoke", "pbx-primary")
    assert again.exit_code == 1
    assert "already been revoked" in again.output
