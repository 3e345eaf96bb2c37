"""Uploading a call's recording to a phone contact from the console, through the same intake
(and the same checks) as the PBX API. Registered on the recordings blueprint by `register`, so
its endpoint keeps the blueprint's name.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext

from cs_register import pages
from cs_register.clock import parse_local_datetime
from cs_register.contacts.services import get_contact
from cs_register.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from cs_register.identifiers import IdentifierError
from cs_register.languages import N_
from cs_register.permissions import Permission
from cs_register.web import current_settings, requires, staff_context
from recordings.intake import receive_recording
from recordings.storage import CHUNK_BYTES
from recordings.web import current_policy, current_storage

_UPLOAD_TYPES_BY_EXTENSION = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "gsm": "audio/gsm",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "m4a": "audio/mp4",
    "flac": "audio/flac",
}


def register(blueprint: Blueprint) -> None:
    blueprint.add_url_rule(
        "/contacts/<contact_public_id>/recording", view_func=upload_for_contact, methods=["POST"]
    )


def upload_content_type(mimetype: str | None, filename: str) -> str | None:
    """The Content-Type to hand to intake: the browser's if it says audio, else one from the
    file name's extension (browsers send application/octet-stream for e.g. `.gsm`). Intake still
    decodes the bytes whatever the type claims."""
    if mimetype and mimetype.lower().startswith("audio/"):
        return mimetype
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return _UPLOAD_TYPES_BY_EXTENSION.get(extension, mimetype)


def _upload_failed(public_id: str, errors: dict[str, list[str]], status: int = 422) -> Any:
    values = {"recorded_at": request.form.get("recorded_at", "")}
    return pages.render(
        pages.CONTACT_PAGE,
        public_id,
        errors={},
        values={},
        extra={"upload_errors": errors, "upload_values": values},
        status=status,
    )


@requires(Permission.LOG_CONTACTS)
def upload_for_contact(contact_public_id: str) -> Any:
    """Attach a recording to a phone contact from the console, through the same intake (and
    the same checks) as the PBX API."""
    contact = get_contact(staff_context(), public_id=contact_public_id)
    upload = request.files.get("audio")
    if upload is None or not upload.filename:
        return _upload_failed(
            contact.public_id, {"audio": [N_("Choose the audio file to upload.")]}
        )
    raw_recorded_at = request.form.get("recorded_at", "").strip()
    try:
        recorded_at = parse_local_datetime(raw_recorded_at) if raw_recorded_at else None
    except IdentifierError as exc:
        return _upload_failed(contact.public_id, {"recorded_at": [exc.message]})
    try:
        recording, created = receive_recording(
            staff_context(),
            current_storage(),
            call_or_contact=contact,
            # werkzeug has already spooled the part to a temporary file; it is read on in
            # chunks, so memory use stays at one chunk whatever the size.
            chunks=iter(lambda: upload.stream.read(CHUNK_BYTES), b""),
            content_type=upload_content_type(upload.mimetype, upload.filename),
            # A recording starts with its call unless the agent says otherwise.
            recorded_at=recorded_at or contact.occurred_at,
            max_bytes=current_settings().max_upload_bytes,
            policy=current_policy(),
        )
    except ValidationFailed as failure:
        return _upload_failed(contact.public_id, failure.errors)
    except UnsupportedMediaType:
        message = N_(
            "The file is not an audio file; choose the call's recording (WAV, MP3, GSM...)."
        )
        return _upload_failed(contact.public_id, {"audio": [message]}, status=415)
    except PayloadTooLarge as too_large:
        return _upload_failed(contact.public_id, {"audio": [too_large.detail]}, status=413)
    flash(
        gettext("Recording stored.") if created else gettext("This recording was already stored."),
        "success",
    )
    return redirect(url_for("recordings.recording_page", public_id=recording.public_id))
