"""Each integration's token reaches only its own endpoints: the mail relay's token cannot
read or post calls, the PBX's cannot post emails, and neither reads the marketing feed."""

from __future__ import annotations

import pytest

from tests.cs_register.integrations.conftest import bearer

EMAIL = (
    b"From: Matti <matti@example.fi>\r\nMessage-ID: <scope@example.fi>\r\nSubject: Hei\r\n\r\nHei"
)


@pytest.mark.parametrize(
    ("scope", "method", "path", "allowed"),
    [
        ("email", "get", "/api/v1/calls/no-such-call", False),
        ("email", "post", "/api/v1/calls", False),
        ("email", "get", "/api/v1/marketing/changes", False),
        ("telephony", "post", "/api/v1/intake/email", False),
        ("telephony", "get", "/api/v1/marketing/changes", False),
        ("marketing", "post", "/api/v1/intake/email", False),
        ("marketing", "post", "/api/v1/calls", False),
        ("telephony", "get", "/api/v1/calls/no-such-call", True),
        ("email", "post", "/api/v1/intake/email", True),
    ],
)
def test_a_token_reaches_only_its_own_endpoints(client, make_token, scope, method, path, allowed):
    _, raw = make_token(f"{scope}-token", scope=scope)
    kwargs = {"headers": bearer(raw)}
    if path.endswith("/email"):
        kwargs.update(data=EMAIL, content_type="message/rfc822")
    elif method == "post":
        kwargs.update(json={})
    response = getattr(client, method)(path, **kwargs)
    if allowed:
        # Past authentication: the endpoint's own answer (found, stored or refused).
        assert response.status_code in (200, 201, 404, 422), response.get_data(as_text=True)
    else:
        assert response.status_code == 403
        assert response.content_type == "application/problem+json"
        assert "scope" in response.get_json()["detail"]
