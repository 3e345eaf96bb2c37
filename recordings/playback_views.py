"""Serving a recording's audio: the player's byte ranges and the original's download.

Who may hear what is decided by `recordings.services` (and, first, by the `@requires` guards):
agents and supervisors play, only supervisors download. Audio is streamed from storage in
chunks, never read into memory, and never cached by the browser. The routes are added to the
recordings blueprint by `register`, so their endpoints keep the blueprint's names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, request

from cs_register.errors import NotFound
from cs_register.permissions import Permission
from cs_register.web import requires, staff_context
from recordings import services
from recordings.byte_ranges import RangeNotSatisfiable, requested_range
from recordings.models import Recording, file_extension
from recordings.sealing import SealedObjectCorrupt, for_original
from recordings.storage import RecordingStorage, StorageError
from recordings.web import current_policy, current_storage

log = logging.getLogger(__name__)


def register(blueprint: Blueprint) -> None:
    blueprint.add_url_rule("/recordings/<public_id>/audio", view_func=audio, methods=["GET"])
    blueprint.add_url_rule("/recordings/<public_id>/download", view_func=download, methods=["GET"])


def _stream(storage: RecordingStorage, key: str, start: int, end: int) -> Iterator[bytes]:
    # Opened only when the body is actually sent, so a HEAD request never touches the file.
    yield from storage.open(key, start, end)


def _stored_size(storage: RecordingStorage, recording: Recording, key: str) -> int:
    try:
        return storage.size(key)
    except SealedObjectCorrupt:
        # Found, but not what was stored: tampered with, damaged, or under a key this
        # deployment lacks. Never served; the operator's alerting reads this line.
        log.error("audio of recording %s failed its integrity check", recording.public_id)
        raise NotFound("The audio of this recording could not be read.") from None
    except StorageError:
        # The row says the audio exists but the file does not: reconciliation must look.
        log.error("audio of recording %s is missing from storage", recording.public_id)
        raise NotFound("The audio of this recording could not be found.") from None


def _servable(public_id: str, *, download: bool) -> tuple[Recording, RecordingStorage]:
    recording = services.servable_recording(
        staff_context(), public_id=public_id, policy=current_policy(), download=download
    )
    return recording, current_storage()


def _audio_headers(disposition: str, filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'{disposition}; filename="{filename}"',
        # Recordings are personal data: never kept in browser or proxy caches.
        "Cache-Control": "no-store",
    }


@requires(Permission.PLAY_RECORDINGS)
def audio(public_id: str) -> Any:
    """The audio for the page's player: the listening copy (`services.player_audio`)."""
    recording, storage = _servable(public_id, download=False)
    playing = services.player_audio(staff_context(), recording)
    key, content_type = playing.key, playing.content_type
    if key == recording.storage_key:
        storage = for_original(storage, recording.key_version)
    size = _stored_size(storage, recording, key)
    headers = _audio_headers("inline", f"recording-{recording.public_id}.{playing.extension}")
    headers["Accept-Ranges"] = "bytes"
    if request.headers.get("If-Range"):
        # We send no validators, so an If-Range can never match: the whole file it is.
        byte_range = None
    else:
        try:
            byte_range = requested_range(request.headers.get("Range"), size)
        except RangeNotSatisfiable:
            headers["Content-Range"] = f"bytes */{size}"
            return Response(b"", status=416, headers=headers)
    # Every GET delivers audio, whatever byte it starts at, so every one counts towards a
    # listening (audited once per staff member and session, `services.record_listening`).
    # HEAD requests deliver no audio and are not audited.
    if request.method == "GET":
        services.record_listening(staff_context(), recording=recording, download=False)
    if byte_range is None:
        headers["Content-Length"] = str(size)
        body = _stream(storage, key, 0, size - 1)
        return Response(body, status=200, headers=headers, content_type=content_type)
    headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
    headers["Content-Length"] = str(byte_range.length)
    body = _stream(storage, key, byte_range.start, byte_range.end)
    return Response(body, status=206, headers=headers, content_type=content_type)


@requires(Permission.DOWNLOAD_RECORDINGS)
def download(public_id: str) -> Any:
    """The original file, byte for byte as it was received; every download is audited."""
    recording, storage = _servable(public_id, download=True)
    storage = for_original(storage, recording.key_version)
    key = recording.storage_key or ""
    size = _stored_size(storage, recording, key)
    services.record_listening(staff_context(), recording=recording, download=True)
    headers = _audio_headers(
        "attachment", f"recording-{recording.public_id}.{file_extension(recording)}"
    )
    headers["Content-Length"] = str(size)
    return Response(
        _stream(storage, key, 0, size - 1),
        status=200,
        headers=headers,
        content_type=recording.content_type,
    )
