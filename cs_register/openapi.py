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

from recordings import intake

blueprint = Blueprint("openapi", __name__)

PROBLEM = "application/problem+json"
JSON = "application/json"

# Exactly what recordings.intake accepts as an external call id.
EXTERNAL_CALL_ID_PATTERN = f"^{intake.EXTERNAL_CALL_ID_PATTERN}$"

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


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _STATUS_TEXT[status],
        "content": {PROBLEM: {"schema": _ref("Problem")}},
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
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _nullable(type_name: str, **extra: Any) -> dict[str, Any]:
    return {"type": [type_name, "null"], **extra}


TIMESTAMP = {"type": "string", "format": "date-time"}
UUID = {"type": "string", "format": "uuid"}

_CHOICE_KINDS = ["prohibition", "consent"]

SCHEMAS: dict[str, Any] = {
    "MarketingChanges": {
        "type": "object",
        "required": ["changes", "next_cursor", "has_more"],
        "additionalProperties": False,
        "properties": {
            "changes": {"type": "array", "items": _ref("MarketingChange")},
            "next_cursor": {
                "type": "string",
                "pattern": "^[0-9]+$",
                "description": "Ask with `after` set to this next; unchanged when nothing is new.",
            },
            "has_more": {"type": "boolean"},
        },
    },
    "MarketingChange": {
        "type": "object",
        "required": ["cursor", "occurred_at", "change", "customer", "kind", "topic", "channel"],
        "additionalProperties": False,
        "properties": {
            "cursor": {"type": "string", "pattern": "^[0-9]+$"},
            "occurred_at": TIMESTAMP,
            "change": {
                "type": "string",
                "enum": ["started", "ended", "customer_removed"],
                "description": "`started`: a prohibition came into force or a consent was"
                " given; `ended`: lifted or withdrawn; `customer_removed`: the customer's record"
                " is gone, forget them.",
            },
            "customer": {
                "type": "object",
                "required": ["id", "email", "phone"],
                "additionalProperties": False,
                "properties": {
                    "id": UUID,
                    "email": _nullable("string", description="As it is when read."),
                    "phone": _nullable("string", description="E.164, as it is when read."),
                },
            },
            "kind": {"type": ["string", "null"], "enum": [*_CHOICE_KINDS, None]},
            "topic": _nullable("string", description="A prohibition or consent purpose name."),
            "channel": {
                "type": ["string", "null"],
                "enum": ["phone", "email", "chatbot", "letter", None],
            },
        },
    },
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "detail", "instance", "request_id"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "request_id": _nullable("string"),
            "errors": {
                "type": "object",
                "description": "Field name to its messages (422 only).",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
    "CallReport": {
        "type": "object",
        "required": ["external_call_id", "direction", "started_at"],
        "properties": {
            "external_call_id": {"type": "string", "pattern": EXTERNAL_CALL_ID_PATTERN},
            "direction": {"type": "string", "enum": ["inbound", "outbound"]},
            "customer_number": {
                "type": ["string", "null"],
                "description": (
                    "Any number phonenumbers accepts; Finland is the default region. Null,"
                    " absent, empty or one of anonymous, withheld, private, restricted,"
                    " unknown: the caller withheld their number (the call is taken unlinked)."
                ),
            },
            "agent_username": _nullable("string"),
            "started_at": TIMESTAMP,
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "Recording": {
        "type": "object",
        "required": ["recording_id", "state", "sha256", "size_bytes", "content_type"],
        "properties": {
            "recording_id": UUID,
            "state": {"type": "string"},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "size_bytes": {"type": "integer", "minimum": 0},
            "content_type": {"type": "string"},
            "container": _nullable("string"),
            "codec": _nullable("string"),
            "channels": _nullable("integer"),
            "sample_rate": _nullable("integer"),
            "duration_seconds": _nullable("number"),
            "recorded_at": {"type": ["string", "null"], "format": "date-time"},
            "due_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "Call": {
        "type": "object",
        "required": [
            "call_id",
            "external_call_id",
            "contact_id",
            "direction",
            "started_at",
            "ended_at",
            "customer_linked",
            "recording",
        ],
        "properties": {
            "call_id": UUID,
            "external_call_id": {"type": "string"},
            "contact_id": UUID,
            "direction": {"type": "string", "enum": ["inbound", "outbound"]},
            "started_at": TIMESTAMP,
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "customer_linked": {"type": "boolean"},
            "recording": {"oneOf": [_ref("Recording"), {"type": "null"}]},
        },
    },
    "ChatbotConversation": {
        "type": "object",
        "description": "Unknown fields are ignored.",
        "required": ["conversation_id", "started_at"],
        "properties": {
            "conversation_id": {"type": "string", "minLength": 1, "maxLength": 128},
            "started_at": TIMESTAMP,
            "ended_at": TIMESTAMP,
            "customer": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 200},
                    "email": {"type": "string", "format": "email"},
                    "phone": {"type": "string"},
                },
            },
            "language": {"type": "string", "pattern": "^[a-zA-Z-]{2,8}$"},
            "summary": {"type": "string", "maxLength": 2000},
            "transcript": {
                "type": "array",
                "maxItems": 500,
                "items": {
                    "type": "object",
                    "required": ["speaker", "text"],
                    "properties": {
                        "speaker": {"type": "string", "enum": ["customer", "bot", "agent"]},
                        "text": {"type": "string", "maxLength": 4000},
                        "at": TIMESTAMP,
                    },
                },
            },
            "handover": {"type": "boolean"},
        },
    },
    "ChatbotResult": {
        "type": "object",
        "required": ["contact_id", "linked", "handover"],
        "properties": {
            "contact_id": UUID,
            "linked": {"type": "boolean"},
            "handover": {"type": "boolean"},
        },
    },
    "EmailResult": {
        "type": "object",
        "required": ["email_id", "contact_id", "customer_linked", "threaded", "created"],
        "properties": {
            "email_id": UUID,
            "contact_id": UUID,
            "customer_linked": {"type": "boolean"},
            "threaded": {"type": "boolean", "description": "A reply to an earlier email."},
            "created": {"type": "boolean", "description": "False for a repeated Message-ID."},
        },
    },
}


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
                "content": {JSON: {"schema": _ref("CallReport")}},
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
                "content": {JSON: {"schema": _ref("ChatbotConversation")}},
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
