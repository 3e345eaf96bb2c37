"""The OpenAPI document's component schemas: the bodies the machine-facing API accepts and
returns (`cs_register.openapi` puts them together with the paths)."""

from __future__ import annotations

from typing import Any

from recordings import intake

# Exactly what recordings.intake accepts as an external call id.
EXTERNAL_CALL_ID_PATTERN = f"^{intake.EXTERNAL_CALL_ID_PATTERN}$"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


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
            "changes": {"type": "array", "items": ref("MarketingChange")},
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
    "CallEvent": {
        "type": "object",
        "required": ["event", "agent", "occurred_at"],
        "properties": {
            "event": {"type": "string", "enum": ["ringing", "answered"]},
            "agent": {
                "type": "string",
                "minLength": 1,
                "maxLength": 150,
                "description": "The username of an active agent or supervisor; anyone else: 422.",
            },
            "caller_number": {
                "type": ["string", "null"],
                "description": "As `customer_number` of a call report; withheld numbers too.",
            },
            "occurred_at": TIMESTAMP,
        },
    },
    "CallEventResult": {
        "type": "object",
        "required": ["call", "ringing_at", "answered_at", "recorded"],
        "properties": {
            "call": ref("Call"),
            "ringing_at": {"type": ["string", "null"], "format": "date-time"},
            "answered_at": {"type": ["string", "null"], "format": "date-time"},
            "recorded": {
                "type": "boolean",
                "description": "False for a repeat of an event already recorded.",
            },
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
            "recording": {"oneOf": [ref("Recording"), {"type": "null"}]},
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
