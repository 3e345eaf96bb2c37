"""The PBX's side of the telephony API, for tests that drive it over HTTP."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient

CALLS_URL = "/api/v1/calls"


def recording_url(external_call_id: str) -> str:
    return f"{CALLS_URL}/{external_call_id}/recording"


def events_url(external_call_id: str) -> str:
    return f"{CALLS_URL}/{external_call_id}/events"


class Api:
    """The PBX's side of the conversation: every request carries its bearer token."""

    def __init__(self, client: FlaskClient, token: str, clock: Any) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}
        self.clock = clock
        self._ids = itertools.count(1)

    def call_payload(self, **overrides: Any) -> dict[str, Any]:
        payload = {
            "external_call_id": f"pbx-{next(self._ids)}",
            "direction": "inbound",
            "customer_number": "040 123 4567",
            "agent_username": None,
            "started_at": (self.clock.now - timedelta(minutes=10)).isoformat(),
            "ended_at": (self.clock.now - timedelta(minutes=2)).isoformat(),
        }
        payload.update(overrides)
        return payload

    def register(self, **overrides: Any) -> Any:
        return self.client.post(
            CALLS_URL, json=self.call_payload(**overrides), headers=self.headers
        )

    def new_call(self, **overrides: Any) -> str:
        response = self.register(**overrides)
        assert response.status_code == 201, response.get_json()
        external_call_id: str = response.get_json()["external_call_id"]
        return external_call_id

    def event(
        self, external_call_id: str, event: str = "ringing", agent: str = "agent", **overrides: Any
    ) -> Any:
        """A live call event (the screen pop's source), `occurred_at` now unless overridden."""
        payload = {
            "event": event,
            "agent": agent,
            "caller_number": "040 123 4567",
            "occurred_at": self.clock.now.isoformat(),
        }
        payload.update(overrides)
        return self.client.post(events_url(external_call_id), json=payload, headers=self.headers)

    def upload(
        self,
        external_call_id: str,
        body: bytes,
        content_type: str | None = "audio/wav",
        query: str = "",
    ) -> Any:
        headers = dict(self.headers)
        if content_type is not None:
            headers["Content-Type"] = content_type
        return self.client.put(recording_url(external_call_id) + query, data=body, headers=headers)
