"""Listening copies for recordings stored before every recording had one.

New recordings get their copy when they are stored (`services.store_recording`). Older ones
get it here, one recording at a time, from `flask recordings make-playback-copies`: the
original is read through the storage interface and transcoded outside any transaction (a long
call takes a while, and SQLite would otherwise be locked for writes all along), the copy is
stored, and a short transaction then records its key under a row lock, if the recording is
still active and still has none. Otherwise (purged meanwhile, or another run was faster) the
copy is deleted again. A run killed between storing and recording leaves a file no row names,
which reconciliation reports as an orphan. Each recording commits on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.orm import Session

from recordings.audio import make_playback_copy
from recordings.models import Recording, RecordingState
from recordings.sealing import for_original
from recordings.storage import RecordingStorage, new_key


def recordings_without_copy(session: Session, *, limit: int) -> list[int]:
    return list(
        session.scalars(
            sa.select(Recording.id)
            .where(
                Recording.state == RecordingState.ACTIVE,
                Recording.storage_key.is_not(None),
                Recording.playback_key.is_(None),
            )
            .order_by(Recording.id)
            .limit(limit)
        )
    )


def make_playback_copy_for(
    unit_of_work: Callable[[], AbstractContextManager[Session]],
    storage: RecordingStorage,
    recording_id: int,
    *,
    max_bytes: int,
) -> bool:
    """Make and record the listening copy of one recording; False when it needed none (any
    more)."""
    with unit_of_work() as session:
        recording = session.get(Recording, recording_id)
        if recording is None or recording.playback_key or not recording.storage_key:
            return False
        original_key = recording.storage_key
        stored = for_original(storage, recording.key_version)
    copy_key = new_key(".mp3")
    with storage.staged_upload() as original, storage.staged_upload() as copy:
        storage.receive(original, _chunks(stored, original_key), max_bytes=max_bytes)
        make_playback_copy(original.path, copy)
        storage.put(copy_key, copy)
    recorded = False
    try:
        with unit_of_work() as session:
            recording = session.scalar(
                sa.select(Recording).where(Recording.id == recording_id).with_for_update()
            )
            if (
                recording is not None
                and recording.state is RecordingState.ACTIVE
                and recording.playback_key is None
            ):
                recording.playback_key = copy_key
                recorded = True
    finally:
        if not recorded:
            storage.delete(copy_key)
    return recorded


def _chunks(storage: RecordingStorage, key: str) -> Iterator[bytes]:
    yield from storage.open(key)
