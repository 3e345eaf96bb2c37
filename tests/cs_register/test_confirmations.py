"""What cannot be undone asks first: deactivating an account, revoking an integration token
and retiring a webhook secret each open a question on the first click and act on the second
(a <details> disclosure, so no script is needed under the CSP)."""

from __future__ import annotations

import re

from cs_register.integrations import services, webhooks
from tests.support.context import make_context


def _confirmation(html: str, action: str) -> str:
    """The <details class="confirm"> whose form posts to `action`; fails if the action has a
    form outside such a disclosure (one click would act)."""
    found = re.findall(r'<details class="confirm">.*?</details>', html, flags=re.S)
    holding = [block for block in found if f'action="{action}"' in block]
    assert len(holding) == 1, f"no confirmation for {action}"
    outside = html.replace(holding[0], "")
    assert f'action="{action}"' not in outside
    return holding[0]


def test_deactivating_an_account_asks_first(client, logged_in, make_staff):
    target = make_staff("agent", username="ville.agent")
    logged_in("admin")
    html = client.get(f"/admin/staff/{target.public_id}").get_data(as_text=True)

    block = _confirmation(html, f"/admin/staff/{target.public_id}/active")
    assert '<summary class="button danger">Deactivate account</summary>' in block
    assert "Deactivate ville.agent?" in block
    assert 'name="active" value="0"' in block
    assert 'name="csrf_token"' in block
    assert ">Yes, deactivate ville.agent</button>" in block


def test_revoking_a_token_asks_first(client, logged_in, database, clock):
    with database.unit_of_work() as session:
        row, _ = services.create_token(
            make_context(session, None, clock.now), name="pbx-primary", scope="telephony"
        )
    logged_in("admin")
    html = client.get("/admin/integrations/").get_data(as_text=True)

    block = _confirmation(html, f"/admin/integrations/{row.public_id}/revoke")
    assert "Revoke pbx-primary?" in block
    assert ">Yes, revoke pbx-primary</button>" in block


def test_retiring_a_webhook_secret_asks_first(client, logged_in, database, keyring, clock):
    with database.unit_of_work() as session:
        secret, _ = webhooks.create_webhook_secret(
            make_context(session, None, clock.now), keyring, name="chatbot"
        )
    logged_in("admin")
    html = client.get("/admin/integrations/webhook-secrets/").get_data(as_text=True)

    block = _confirmation(html, f"/admin/integrations/webhook-secrets/{secret.public_id}/retire")
    assert "Retire chatbot?" in block
