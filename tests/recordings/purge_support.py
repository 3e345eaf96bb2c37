"""Fixtures for the retention-engine tests (purge, ledger, reconciliation, monitor, CLI).

Purge tests need many recordings at chosen times, including times the upload path refuses
(already due). `stored_recording` therefore writes random bytes through the real storage and
inserts the row directly, with `due_at` from the rules module: fast, and exactly what the purge
sees in production. Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from cs_register.contacts.models import Contact
from cs_register.db import Database
from cs_register.permissions import Role
from cs_register.staff.models import StaffUser
from recordings import holds, retention
from recordings.models import PurgeReceipt, Recording, RecordingHold
from recordings.retention import RetentionPolicy
from recordings.storage import LocalStorage, new_key
from tests.support.context import make_context


def write_file(storage: LocalStorage, data: bytes, suffix: str = "") -> str:
    key = new_key(suffix)
    with storage.staged_upload() as staged:
        storage.receive(staged, [data], max_bytes=len(data) + 1)
        storage.put(key, staged)
    return key


@pytest.fixture
def stored_recording(
    database: Database,
    storage: LocalStorage,
    policy: RetentionPolicy,
    clock: Any,
    make_phone_contact: Callable[..., Contact],
) -> Callable[..., Recording]:
    """`stored_recording(recorded_at=None, playback=False)`: a stored recording row + file."""

    def _make(recorded_at: datetime | None = None, *, playback: bool = False) -> Recording:
        contact = make_phone_contact()
        when = recorded_at or clock.now
        data = secrets.token_bytes(256)
        key = write_file(storage, data, ".wav")
        playback_key = write_file(storage, secrets.token_bytes(64), ".mp3") if playback else None
        with database.unit_of_work() as session:
            recording = Recording(
                contact_id=contact.id,
                storage_key=key,
                playback_key=playback_key,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                content_type="audio/wav",
                container="wav",
                codec="pcm_mulaw",
                sample_rate=8000,
                channels=1,
                duration_seconds=1.0,
                recorded_at=when,
                due_at=retention.due_at(when, [], policy),
                uploaded_at=when,
            )
            session.add(recording)
        return recording

    return _make


@pytest.fixture
def supervisor(make_staff: Callable[..., StaffUser]) -> StaffUser:
    return make_staff(Role.SUPERVISOR, username="hold-keeper")


@pytest.fixture
def hold(
    database: Database, policy: RetentionPolicy, supervisor: StaffUser
) -> Callable[..., RecordingHold]:
    """`hold(recording, now=..., ends_on=None)`: a hold placed through the service."""

    def _place(
        recording: Recording, *, now: datetime, ends_on: date | None = None
    ) -> RecordingHold:
        with database.unit_of_work() as session:
            return holds.place_hold(
                make_context(session, session.get(StaffUser, supervisor.id), now),
                recording_public_id=recording.public_id,
                reason="complaint",
                reference="CASE-42",
                justification="Complaint under investigation",
                ends_on=ends_on,
                policy=policy,
            )

    return _place


@pytest.fixture
def receipts(database: Database) -> Callable[[], list[PurgeReceipt]]:
    """All receipts as committed now, in chain order."""

    def _read() -> list[PurgeReceipt]:
        with database.session_factory() as session:
            return list(session.scalars(sa.select(PurgeReceipt).order_by(PurgeReceipt.sequence)))

    return _read


@pytest.fixture
def fresh(database: Database) -> Callable[[int], Recording]:
    """`fresh(recording_id)`: the row as committed now (read in a new session, detached)."""

    def _get(recording_id: int) -> Recording:
        with database.session_factory() as session:
            recording = session.get(Recording, recording_id)
            assert recording is not None
            session.expunge(recording)
            return recording

    return _get
