"""Telephony intake API for the PBX: register calls, upload their recordings.

- `POST /api/v1/calls` (JSON) registers a call: 201 when new, 200 when the external id is known.
- `GET /api/v1/calls/<external_call_id>` reports the call and its recording, if any.
- `POST /api/v1/calls/<external_call_id>/events` (JSON): the call is ringing or was answered for
  an agent (the screen pop); the first event opens the call: 201, later ones 200.
- `PUT /api/v1/calls/<external_call_id>/recording` uploads the raw audio as the request body,
  streamed to disk in 64 KiB chunks: 201 stored, 200 the same bytes again, 409 other bytes.

Every request authenticates with `Authorization: Bearer <integration token>`. Every error is an
RFC 9457 problem+json (see cs_register.errors). Responses carry ids and audio facts only; the
caller's number is never echoed back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify, request, url_for
from werkzeug.exceptions import BadRequest

from cs_register.contacts.models import Contact
from cs_register.db import get_session
from cs_register.errors import NotFound, UnsupportedMediaType, ValidationFailed
from cs_register.integrations.auth import current_integration, install_token_auth
from cs_register.integrations.models import TokenScope
from cs_register.permissions import Actor
from cs_register.request_bodies import parse_strict_json, read_capped_body
from cs_register.web import current_settings, request_context
from recordings import call_events, intake
from recordings.models import Call, Recording
from recordings.storage import CHUNK_BYTES
from recordings.web import current_policy, current_storage

blueprint = Blueprint("telephony_api", __name__, url_prefix="/api/v1")
install_token_auth(blueprint, TokenScope.TELEPHONY)

# A call report is a few hundred bytes; the upload limit is for audio, not for JSON.
MAX_JSON_BYTES = 64 * 1024


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def recording_body(recording: Recording) -> dict[str, Any]:
    return {
        "recording_id": recording.public_id,
        "state": recording.state.value,
        "sha256": recording.sha256,
        "size_bytes": recording.size_bytes,
        "content_type": recording.content_type,
        "container": recording.container,
        "codec": recording.codec,
        "channels": recording.channels,
        "sample_rate": recording.sample_rate,
        "duration_seconds": recording.duration_seconds,
        "recorded_at": _iso(recording.recorded_at),
        "due_at": _iso(recording.due_at),
    }


def call_body(call: Call) -> dict[str, Any]:
    session = get_session()
    contact = session.get(Contact, call.contact_id)
    assert contact is not None  # noqa: S101 - non-null foreign key
    recording = session.scalar(sa.select(Recording).where(Recording.contact_id == contact.id))
    return {
        "call_id": call.public_id,
        "external_call_id": call.external_call_id,
        "contact_id": contact.public_id,
        "direction": call.direction.value,
        "started_at": _iso(call.started_at),
        "ended_at": _iso(call.ended_at),
        # Linked now, whether at registration or later by an agent.
        "customer_linked": contact.customer_id is not None,
        "recording": recording_body(recording) if recording is not None else None,
    }


def _call_or_404(external_call_id: str) -> Call:
    call = intake.find_call(get_session(), external_call_id)
    if call is None:
        raise NotFound("No call with that external id has been registered.")
    return call


def _location(call: Call) -> str:
    return url_for("telephony_api.get_call", external_call_id=call.external_call_id)


def _json_object() -> dict[str, Any]:
    if not request.is_json:
        raise UnsupportedMediaType("Send the call as JSON (Content-Type: application/json).")
    payload = parse_strict_json(read_capped_body(MAX_JSON_BYTES))
    if not isinstance(payload, dict):
        raise BadRequest("The request body must be a JSON object.")
    return payload


@blueprint.post("/calls")
def register_call() -> Any:
    payload = _json_object()
    token = current_integration()
    call, created = intake.register_call(
        request_context(Actor.for_integration(token.name)), token=token, payload=payload
    )
    response = jsonify(call_body(call))
    response.status_code = 201 if created else 200
    response.headers["Location"] = _location(call)
    return response


@blueprint.post("/calls/<external_call_id>/events")
def receive_call_event(external_call_id: str) -> Any:
    payload = _json_object()
    token = current_integration()
    outcome = call_events.receive_call_event(
        request_context(Actor.for_integration(token.name)),
        token=token,
        external_call_id=external_call_id,
        payload=payload,
    )
    call = outcome.call
    response = jsonify(
        {
            "call": call_body(call),
            "ringing_at": _iso(call.ringing_at),
            "answered_at": _iso(call.answered_at),
            # False for a repeat of an event already recorded: nothing changed.
            "recorded": outcome.recorded,
        }
    )
    response.status_code = 201 if outcome.opened else 200
    response.headers["Location"] = _location(call)
    return response


@blueprint.get("/calls/<external_call_id>")
def get_call(external_call_id: str) -> Any:
    return jsonify(call_body(_call_or_404(external_call_id)))


def _request_body_chunks() -> Iterator[bytes]:
    # request.stream, never request.data: a two-hour WAV must not be held in memory. Werkzeug
    # enforces MAX_CONTENT_LENGTH on this stream (413) before storage applies its own limit.
    stream = request.stream
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


def _recorded_at(call: Call) -> datetime:
    raw = request.args.get("recorded_at")
    if raw is None or not raw.strip():
        return call.started_at
    # An unencoded "+02:00" in a query string arrives as " 02:00"; put the plus sign back.
    raw = raw.strip().replace(" ", "+")
    errors: dict[str, list[str]] = {}
    parsed = intake.parse_timestamp(raw, field="recorded_at", errors=errors)
    if parsed is None:
        raise ValidationFailed(errors)
    return parsed


@blueprint.put("/calls/<external_call_id>/recording")
def upload_recording(external_call_id: str) -> Any:
    call = _call_or_404(external_call_id)
    token = current_integration()
    recording, created = intake.receive_recording(
        request_context(Actor.for_integration(token.name)),
        current_storage(),
        call_or_contact=call,
        chunks=_request_body_chunks(),
        content_type=request.headers.get("Content-Type"),
        recorded_at=_recorded_at(call),
        max_bytes=current_settings().max_upload_bytes,
        policy=current_policy(),
        token=token,
    )
    response = jsonify(recording_body(recording))
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for(
        "telephony_api.upload_recording", external_call_id=call.external_call_id
    )
    return response
