"""The admin pages for integration tokens: list, create (token shown once), revoke."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from cs_register.audit.models import AuditAction
from tests.cs_register.integrations.conftest import (
    PROBE_URL,
    audit_events,
    bearer,
    stored_token,
)
from tests.support.context import make_context

LIST_URL = "/admin/integrations/"
NEW_URL = "/admin/integrations/new"


def shown_token(html: str) -> str:
    match = re.search(r'id="integration-token">(csr_[A-Za-z0-9_-]{43})<', html)
    assert match, html
    return match.group(1)


def test_creating_a_token_shows_it_once_in_the_response(client, logged_in, database):
    admin = logged_in("admin")
    assert client.get(NEW_URL).status_code == 200

    response = client.post(NEW_URL, data={"name": "PBX-Primary"})

    assert response.status_code == 201
    assert "Location" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    raw = shown_token(html)
    assert html.count(raw) == 1
    # It works, and nothing shows it again: not the list, not a flash message.
    assert client.get(PROBE_URL, headers=bearer(raw)).status_code == 404
    listing = client.get(LIST_URL).get_data(as_text=True)
    assert "pbx-primary" in listing
    assert f"csr_{raw[4:12]}" in listing
    assert raw[12:] not in listing
    assert "never" not in listing  # it has been used once now
    (event,) = audit_events(database, AuditAction.INTEGRATION_TOKEN_CREATED)
    assert event.actor_id == admin.id


def test_the_list_shows_creator_last_use_and_state(client, logged_in, make_token, database, clock):
    from cs_register.integrations import services

    make_token("pbx-old")
    row, raw = make_token("pbx-new")
    with database.unit_of_work() as session:
        old = services.get_token_by_name(session, "pbx-old")
        services.revoke_token(make_context(session, None, clock.now), public_id=old.public_id)
    clock.advance(timedelta(hours=2))
    client.get(PROBE_URL, headers=bearer(raw))
    logged_in("admin")

    html = client.get(LIST_URL).get_data(as_text=True)

    new_row = html[html.index("pbx-new") : html.index("</tr>", html.index("pbx-new"))]
    old_row = html[html.index("pbx-old") : html.index("</tr>", html.index("pbx-old"))]
    # Used at 11:00 UTC, which is 13:00 in Helsinki (EET) on the test clock's date.
    assert "23.11.2026 13:00" in new_row  # last used
    assert "active" in new_row
    assert f"/admin/integrations/{row.public_id}/revoke" in new_row
    assert "revoked" in old_row
    assert "never" in old_row
    assert "/revoke" not in old_row
    assert html.index("pbx-new") < html.index("pbx-old")


@pytest.mark.parametrize(("name", "status"), [("x", 422), ("has space", 422), ("pbx-taken", 409)])
def test_a_refused_name_rerenders_the_form(client, logged_in, make_token, name, status):
    make_token("pbx-taken")
    logged_in("admin")
    response = client.post(NEW_URL, data={"name": name})
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert 'class="field-error"' in html
    assert f'value="{name}"' in html
    assert "integration-token" not in html


def test_revoking_from_the_list(client, logged_in, make_token, database):
    row, raw = make_token("pbx-primary")
    admin = logged_in("admin")

    response = client.post(f"/admin/integrations/{row.public_id}/revoke")

    assert response.status_code == 302
    assert response.headers["Location"] == LIST_URL
    stored = stored_token(database, "pbx-primary")
    assert stored.revoked_by_id == admin.id
    assert client.get(PROBE_URL, headers=bearer(raw)).status_code == 401
    again = client.post(f"/admin/integrations/{row.public_id}/revoke", follow_redirects=True)
    assert "already been revoked" in again.get_data(as_text=True)
    assert len(audit_events(database, AuditAction.INTEGRATION_TOKEN_REVOKED)) == 1


def test_revoke_is_post_only(client, logged_in, make_token):
    row, _ = make_token()
    logged_in("admin")
    assert client.get(f"/admin/integrations/{row.public_id}/revoke").status_code == 405


@pytest.mark.parametrize("role", ["agent", "supervisor", "dpo"])
def test_other_roles_cannot_reach_the_pages(client, logged_in, make_token, database, role):
    row, raw = make_token("pbx-primary")
    logged_in(role)
    assert client.get(LIST_URL).status_code == 403
    assert client.get(NEW_URL).status_code == 403
    assert client.post(NEW_URL, data={"name": "sneaky"}).status_code == 403
    assert client.post(f"/admin/integrations/{row.public_id}/revoke").status_code == 403
    assert stored_token(database, "sneaky") is None
    assert stored_token(database, "pbx-primary").revoked_at is None


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get(LIST_URL)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
