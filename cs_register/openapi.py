"""The OpenAPI 3.1 description of the machine-facing API, served at `GET /api/openapi.json`.

The document is written by hand as a dict, next to nothing else, so that it states the contract
the integrations rely on rather than whatever the code happens to do; `tests/test_openapi.py`
checks it covers every `/api/` route and `tests/test_schemathesis.py` checks the app keeps it.
It is public: it describes the API, it does not grant access to it.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, jsonify

from cs_register.openapi_schemas import EXTERNAL_CALL_ID_PATTERN, SCHEMAS, TIMESTAMP, ref

blueprint = Blueprint("openapi", __name__)

PROBLEM = "application/problem+json"
JSON = "application/json"

_STATUS_TEXT = {
    400: "The body is not valid JSON, or not a JSON object.",
    401: "Missing, malformed, unknown or revoked credentials.",
    403: "The token's scope does not cover this endpoint.",
    404: "No such resource.",
    409: "Conflicts with what is stored, or a concurrent request; retry later.",
    413: "The body is larger than the limit.",
    415: "Wrong Content-Type.",
    422: "Validation failed; `errors` names each rejected field.",
}


def _problem(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _STATUS_TEXT[status],
        "content": {PROBLEM: {"schema": ref("Problem")}},
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {
                "schema": {"type": "string"},
                "description": "`Bearer` on token routes; `Webhook-Signature` on the signed"
                " chatbot webhook.",
            }
        }
    return response


def _problems(*statuses: int) -> dict[str, Any]:
    return {str(status): _problem(status) for status in statuses}


def _json(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}}


def _webhook_header(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "description": description,
        "schema": {"type": "string", **schema},
    }


_CALL_ID_PARAMETER = {
    "name": "external_call_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": EXTERNAL_CALL_ID_PATTERN},
}
_BEARER: list[dict[str, list[str]]] = [{"integrationToken": []}]

PATHS: dict[str, Any] = {
    "/api/v1/calls": {
        "post": {
            "operationId": "registerCall",
            "summary": "Report a call; the external id is the idempotency key.",
            "security": _BEARER,
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": ref("CallReport")}},
            },
            "responses": {
                "201": _json("Registered.", "Call"),
                "200": _json("Already registered; the first report wins.", "Call"),
                **_problems(400, 401, 403, 409, 413, 415, 422),
            },
        }
    },
    "/api/v1/calls/{external_call_id}": {
        "get": {
            "operationId": "getCall",
            "summary": "The call and its recording, if any.",
            "security": _BEARER,
            "parameters": [_CALL_ID_PARAMETER],
            "responses": {"200": _json("The call.", "Call"), **_problems(401, 403, 404)},
        }
    },
    "/api/v1/calls/{external_call_id}/events": {
        "post": {
            "operationId": "receiveCallEvent",
            "summary": "The call is ringing or was answered for an agent (the screen pop).",
            "description": (
                "The first event for an external id opens the call and its phone contact, which"
                " the finished call's report and the recording upload then complete. Idempotent"
                " per (call, event): a repeat changes nothing."
            ),
            "security": _BEARER,
            "parameters": [_CALL_ID_PARAMETER],
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": ref("CallEvent")}},
            },
            "responses": {
                "201": _json("The event opened the call.", "CallEventResult"),
                "200": _json("Recorded on a known call, or a repeat.", "CallEventResult"),
                **_problems(400, 401, 403, 404, 409, 413, 415, 422),
            },
        }
    },
    "/api/v1/calls/{external_call_id}/recording": {
        "put": {
            "operationId": "uploadRecording",
            "summary": "Upload the call's audio as the raw body (streamed; validated by ffmpeg).",
            "security": _BEARER,
            "parameters": [
                _CALL_ID_PARAMETER,
                {
                    "name": "recorded_at",
                    "in": "query",
                    "required": False,
                    "schema": TIMESTAMP,
                    "description": "Defaults to the call's start.",
                },
            ],
            "requestBody": {
                "required": True,
                "content": {"audio/*": {"schema": {"type": "string", "format": "binary"}}},
            },
            "responses": {
                "201": _json("Stored.", "Recording"),
                "200": _json("The same bytes again.", "Recording"),
                **_problems(401, 403, 404, 409, 413, 415, 422),
            },
        }
    },
    "/api/v1/intake/chatbot": {
        "post": {
            "operationId": "receiveChatbotConversation",
            "summary": "A chatbot conversation, signed per the Standard Webhooks specification.",
            "description": (
                "HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{raw body}` with the shared "
                "`whsec_` secret. A repeated webhook id returns the original result."
            ),
            "parameters": [
                _webhook_header("webhook-id", "Unique per delivery; the replay key.", minLength=1),
                _webhook_header(
                    "webhook-timestamp",
                    "Unix seconds; at most 5 minutes from the server's clock.",
                    pattern="^[0-9]{1,12}$",
                ),
                _webhook_header(
                    "webhook-signature",
                    "Space-separated `v1,<base64 HMAC>` signatures.",
                    minLength=1,
                ),
            ],
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": ref("ChatbotConversation")}},
            },
            "responses": {
                "201": _json("Logged as a chatbot contact.", "ChatbotResult"),
                "200": _json("A replay; the original result.", "ChatbotResult"),
                **_problems(400, 401, 409, 413, 415, 422),
            },
        }
    },
    "/api/v1/marketing/changes": {
        "get": {
            "operationId": "listMarketingChanges",
            "summary": "Prohibition and consent changes after a cursor, oldest first.",
            "description": (
                "Needs a token with the `marketing` scope. Continue from `next_cursor`: every"
                " change is returned exactly once, in the order it happened."
            ),
            "security": _BEARER,
            "parameters": [
                {
                    "name": "after",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "pattern": "^(0|[1-9][0-9]{0,18})$"},
                    "description": "The previous answer's `next_cursor`; 0 (the default) to start.",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    "description": "At most this many changes (default 100).",
                },
            ],
            "responses": {
                "200": _json("The changes.", "MarketingChanges"),
                **_problems(401, 403, 422),
            },
        }
    },
    "/api/v1/intake/email": {
        "post": {
            "operationId": "receiveEmail",
            "summary": "A raw RFC 5322 message, as a mail relay delivers it.",
            "description": (
                "The Message-ID is the idempotency key (a message without one gets a stable id "
                "from the SHA-256 of its bytes). Replies thread onto the earlier contact. "
                "Attachments are not stored, only listed."
            ),
            "security": _BEARER,
            "requestBody": {
                "required": True,
                "content": {"message/rfc822": {"schema": {"type": "string"}}},
            },
            "responses": {
                "201": _json("Logged as an email contact.", "EmailResult"),
                "200": _json("The same Message-ID again; nothing new.", "EmailResult"),
                **_problems(401, 403, 409, 413, 415, 422),
            },
        }
    },
}


def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document as a JSON-ready dict (a fresh copy each call)."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "cs-register integration API",
                "version": "1.0.0",
                "description": (
                    "Telephony, chatbot and email intake, and the marketing system's feed of"
                    " prohibition and consent changes. Errors are RFC 9457 problem details."
                ),
            },
            "servers": [{"url": "/"}],
            "paths": PATHS,
            "components": {
                "schemas": SCHEMAS,
                "securitySchemes": {
                    "integrationToken": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "An integration token (csr_…) created by an admin.",
                    }
                },
            },
        }
    )


@blueprint.get("/api/openapi.json")
def openapi_json() -> Any:
    return jsonify(openapi_document())
