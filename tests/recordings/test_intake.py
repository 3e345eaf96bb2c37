"""`recordings.intake` at the service layer: what the API relies on, tested without HTTP."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.contacts.models import Contact
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.errors import (
    Conflict,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationFailed,
)
from cs_register.integrations import services as token_services
from cs_register.integrations.models import IntegrationToken
from cs_register.permissions import Actor
from cs_register.staff.models import StaffUser
from recordings import intake
from recordings.models import Call, Recording
from recordings.retention import RetentionPolicy
from recordings.storage import LocalStorage
from tests.recordings.audio_samples import write_mp3, write_wav_mulaw, write_wav_pcm16
from tests.support.context import make_context


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "store")


@pytest.fixture
def policy() -> RetentionPolicy:
    return RetentionPolicy()


@pytest.fixture
def pbx(database: Any, db_session: Session, clock: Any) -> IntegrationToken:
    with database.unit_of_work() as session:
        token, _ = token_services.create_token(
            make_context(session, None, clock.now), name="pbx-test"
        )
    loaded = db_session.get(IntegrationToken, token.id)
    assert loaded is not None
    return loaded


def pbx_context(session, token, clock):
    return Context(session=session, actor=Actor.for_integration(token.name), now=clock.now)


def payload(clock: Any, **overrides: object) -> dict[str, object]:
    return {
        "external_call_id": "pbx-1",
        "direction": "inbound",
        "customer_number": "+358401234567",
        "started_at": (clock.now - timedelta(minutes=5)).isoformat(),
        **overrides,
    }


def chunks_of(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def nothing_left(storage: LocalStorage) -> bool:
    staging = storage.root / ".staging"
    return list(storage.iter_keys()) == [] and (
        not staging.exists() or list(staging.iterdir()) == []
    )


def test_register_call_is_idempotent_on_the_external_id(db_session, pbx, clock):
    call, created = intake.register_call(
        pbx_context(db_session, pbx, clock), token=pbx, payload=payload(clock)
    )
    again, created_again = intake.register_call(
        pbx_context(db_session, pbx, clock),
        token=pbx,
        payload=payload(clock, direction="outbound", started_at="garbage"),
    )
    assert (created, created_again) == (True, False)
    assert again.id == call.id
    assert again.direction.value == "inbound"
    assert call.integration_token_id == pbx.id


def test_all_problems_are_reported_together(db_session, pbx, clock):
    with pytest.raises(ValidationFailed) as failure:
        intake.register_call(
            pbx_context(db_session, pbx, clock),
            token=pbx,
            payload={
                "external_call_id": "pbx-1",
                "direction": "up",
                "customer_number": "not a number",
                "agent_username": "ghost",
            },
        )
    # An unknown agent username is no error (see the next test), nor is a missing number
    # (a withheld caller).
    assert set(failure.value.errors) == {"direction", "customer_number", "started_at"}


def test_an_unknown_agent_username_is_answered_like_a_known_one(
    db_session, pbx, clock, make_staff, caplog
):
    """A PBX token cannot learn which usernames exist: the call is taken either way, without
    an agent when the username matches no account."""
    agent = make_staff("agent", username="maija")
    known, _ = intake.register_call(
        pbx_context(db_session, pbx, clock),
        token=pbx,
        payload=payload(clock, external_call_id="pbx-known", agent_username="maija"),
    )
    unknown, _ = intake.register_call(
        pbx_context(db_session, pbx, clock),
        token=pbx,
        payload=payload(clock, external_call_id="pbx-unknown", agent_username="ghost"),
    )
    assert (known.agent_id, unknown.agent_id) == (agent.id, None)
    assert "ghost" not in caplog.text


def test_a_bad_external_id_is_reported_first(db_session, pbx, clock):
    with pytest.raises(ValidationFailed) as failure:
        intake.register_call(pbx_context(db_session, pbx, clock), token=pbx, payload={})
    assert failure.value.errors == {"external_call_id": [intake.EXTERNAL_CALL_ID_RULE]}


def test_a_deactivated_agent_is_still_recorded_as_the_handler(db_session, pbx, clock, make_staff):
    agent = make_staff("agent", username="former", active=False)
    call, _ = intake.register_call(
        pbx_context(db_session, pbx, clock),
        token=pbx,
        payload=payload(clock, agent_username="FORMER"),
    )
    assert call.agent_id == agent.id
    assert db_session.get(Contact, call.contact_id).handled_by_id == agent.id


def test_last_contact_only_moves_forward(db_session, pbx, clock, make_customer):
    customer = make_customer(phone="+358401234567")
    intake.register_call(pbx_context(db_session, pbx, clock), token=pbx, payload=payload(clock))
    intake.register_call(
        pbx_context(db_session, pbx, clock),
        token=pbx,
        payload=payload(
            clock,
            external_call_id="pbx-older",
            started_at=(clock.now - timedelta(days=2)).isoformat(),
        ),
    )
    stored = db_session.scalar(sa.select(Customer).where(Customer.public_id == customer.public_id))
    assert stored.last_contact_at == clock.now - timedelta(minutes=5)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Call)) == 2


def _receive(db_session, storage, policy, clock, call_or_contact, data, **overrides):
    arguments: dict[str, Any] = {
        "call_or_contact": call_or_contact,
        "chunks": chunks_of(data),
        "content_type": "audio/wav",
        "recorded_at": clock.now - timedelta(minutes=5),
        "max_bytes": 1024 * 1024,
        "policy": policy,
    }
    arguments.update(overrides)
    # A staff member uploading from the console, or the PBX (with its token).
    uploader = arguments.pop("uploaded_by", None)
    token = arguments.get("token")
    actor = (
        Actor.for_staff(uploader)
        if uploader
        else Actor.for_integration(token.name if token else "pbx")
    )
    ctx = Context(session=db_session, actor=actor, now=clock.now)
    return intake.receive_recording(ctx, storage, **arguments)


def test_receive_streams_chunks_and_keeps_the_bytes(
    db_session, pbx, storage, policy, clock, tmp_path
):
    call, _ = intake.register_call(
        pbx_context(db_session, pbx, clock), token=pbx, payload=payload(clock)
    )
    data = write_wav_mulaw(tmp_path / "call.wav").read_bytes()

    recording, created = _receive(db_session, storage, policy, clock, call, data, token=pbx)

    assert created
    assert recording.sha256 == hashlib.sha256(data).hexdigest()
    assert storage.path_for(recording.storage_key).read_bytes() == data
    assert recording.playback_key is not None
    assert recording.integration_token_id == pbx.id


def test_a_rolled_back_transaction_leaves_no_files(
    db_session, pbx, storage, policy, clock, tmp_path
):
    call, _ = intake.register_call(
        pbx_context(db_session, pbx, clock), token=pbx, payload=payload(clock)
    )
    data = write_wav_mulaw(tmp_path / "call.wav").read_bytes()
    _receive(db_session, storage, policy, clock, call, data, token=pbx)
    assert len(list(storage.iter_keys())) == 2  # original and playback copy

    db_session.rollback()

    assert nothing_left(storage)


def test_too_many_bytes_stop_the_stream(db_session, pbx, storage, policy, clock, tmp_path):
    call, _ = intake.register_call(
        pbx_context(db_session, pbx, clock), token=pbx, payload=payload(clock)
    )
    data = write_wav_pcm16(tmp_path / "call.wav").read_bytes()
    consumed: list[int] = []

    def counted() -> Iterator[bytes]:
        for chunk in chunks_of(data):
            consumed.append(len(chunk))
            yield chunk

    with pytest.raises(PayloadTooLarge) as failure:
        _receive(db_session, storage, policy, clock, call, data, chunks=counted(), max_bytes=4096)
    assert failure.value.status == 413
    # Streaming stopped at the limit instead of reading the whole body first.
    assert sum(consumed) < len(data)
    assert nothing_left(storage)
    assert db_session.scalar(sa.select(Recording)) is None


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "audio/", "video/ogg"])
def test_the_content_type_is_checked_before_reading(
    db_session, pbx, storage, policy, clock, content_type
):
    call, _ = intake.register_call(
        pbx_context(db_session, pbx, clock), token=pbx, payload=payload(clock)
    )

    def never_read() -> Iterator[bytes]:
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover

    with pytest.raises(UnsupportedMediaType):
        _receive(
            db_session,
            storage,
            policy,
            clock,
            call,
            b"",
            chunks=never_read(),
            content_type=content_type,
        )
    assert nothing_left(storage)


def test_invalid_audio_becomes_a_validation_failure(db_session, pbx, storage, policy, clock):
    call, _ = intake.register_call(
        pbx_context(db_session, pbx, clock), token=pbx, payload=payload(clock)
    )
    with pytest.raises(ValidationFailed) as failure:
        _receive(db_session, storage, policy, clock, call, b"RIFF" + b"\0" * 4000)
    assert list(failure.value.errors) == ["audio"]
    assert nothing_left(storage)


def test_a_retry_is_answered_from_the_hash_and_other_bytes_conflict(
    db_session, pbx, storage, policy, clock, tmp_path
):
    call, _ = intake.register_call(
        pbx_context(db_session, pbx, clock), token=pbx, payload=payload(clock)
    )
    data = write_mp3(tmp_path / "a.mp3").read_bytes()
    first, _ = _receive(db_session, storage, policy, clock, call, data)

    again, created = _receive(db_session, storage, policy, clock, call, data)
    assert (again.id, created) == (first.id, False)
    with pytest.raises(Conflict):
        # Garbage, but it is the conflict that matters: no decoding is spent on it.
        _receive(db_session, storage, policy, clock, call, b"something else entirely")
    assert sorted(storage.iter_keys()) == sorted([first.storage_key, first.playback_key])


def test_a_staff_upload_to_a_contact_needs_the_contact_permission(
    db_session, pbx, storage, policy, clock, tmp_path, make_staff
):
    # Staff first: make_staff commits in its own session, which SQLite would make wait behind
    # this test's open write transaction.
    admin = db_session.get(StaffUser, make_staff("admin").id)
    agent = db_session.get(StaffUser, make_staff("agent").id)
    call, _ = intake.register_call(
        pbx_context(db_session, pbx, clock), token=pbx, payload=payload(clock)
    )
    contact = db_session.get(Contact, call.contact_id)
    data = write_wav_pcm16(tmp_path / "a.wav").read_bytes()

    with pytest.raises(PermissionDenied):
        _receive(db_session, storage, policy, clock, contact, data, uploaded_by=admin)
    assert nothing_left(storage)
    recording, created = _receive(
        db_session, storage, policy, clock, contact, data, uploaded_by=agent
    )
    assert created
    assert recording.uploaded_by_id == agent.id
