"""Key rotation (`recordings.key_rotation`): stopped part-way, resumed, nothing lost, and the
old version retire-able only once nothing uses it."""

from __future__ import annotations

import os
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.context import Context
from cs_register.crypto import Keyring
from cs_register.customers import services as customer_services
from cs_register.customers.models import Customer
from cs_register.db import Database
from cs_register.errors import Conflict
from cs_register.permissions import Actor
from cs_register.staff.models import StaffUser
from recordings import key_rotation
from recordings.models import Recording
from recordings.sealing import SealedObjectCorrupt, SealedStorage
from tests.support.context import make_context

CHECK_CHARACTERS = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def identity_code(ddmmyy: str, individual: str) -> str:
    return f"{ddmmyy}-{individual}{CHECK_CHARACTERS[int(ddmmyy + individual) % 31]}"


CODES = [
    identity_code("131052", "308"),
    identity_code("150683", "234"),
    identity_code("010170", "456"),
]


def valid_codes() -> list[str]:
    return CODES


def command(session: Any, now: Any) -> Context:
    return Context(session=session, actor=Actor.deployment(), now=now)


@pytest.fixture
def rotated(app: Flask, keyring: Keyring) -> tuple[Keyring, SealedStorage]:
    """The deployment after `flask keys rotate` added version 2: same keys, plus one."""
    storage = app.extensions["cs_register.storage"]
    assert isinstance(storage, SealedStorage)
    settings = app.extensions["cs_register.settings"]
    newer = Keyring(
        encryption_key=settings.data_encryption_key,
        index_key=settings.blind_index_key,
        later_versions={2: os.urandom(32)},
    )
    return newer, SealedStorage(storage.inner, newer.audio)


def test_a_rotation_stopped_part_way_resumes_and_moves_everything(
    app: Flask,
    database: Database,
    keyring: Keyring,
    clock: Any,
    make_staff: Any,
    make_recording: Any,
    rotated: tuple[Keyring, SealedStorage],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(key_rotation, "ROW_BATCH", 1)
    monkeypatch.setattr(key_rotation, "RECORDING_BATCH", 1)
    agent = make_staff("supervisor", username="rotation-agent")
    codes = valid_codes()
    assert len(codes) >= 2
    customer_ids = []
    with database.unit_of_work() as session:
        ctx = make_context(session, session.get(StaffUser, agent.id), clock.now)
        for index, code in enumerate(codes):
            customer = customer_services.create_customer(
                ctx,
                keyring,
                form={
                    "given_names": "Test",
                    "family_name": f"Person{index}",
                    "identity_code": code,
                },
            )
            customer_ids.append(customer.public_id)
    recordings = [make_recording(frequency=400 + 50 * n) for n in range(3)]
    old_storage = app.extensions["cs_register.storage"]
    originals = {r.id: b"".join(old_storage.open(r.storage_key)) for r in recordings}
    newer, storage = rotated

    with database.unit_of_work() as session:
        before = key_rotation.usage(session)
        assert before["identity codes"] == {1: len(codes)}
        assert before["recordings"] == {1: 3}
        public_id = key_rotation.start_rotation(command(session, clock.now), newer).public_id

    # "Killed" after a few batches: part of the identity codes are under version 2.
    progress = key_rotation.run_rotation(
        database, newer, storage, public_id, clock=lambda: clock.now, max_batches=2
    )
    assert progress is not None
    assert progress.phase == "identity_codes"
    with database.unit_of_work() as session:
        assert key_rotation.usage(session)["identity codes"] == {1: len(codes) - 2, 2: 2}
        # Searches find customers under the old and the new index alike.
        for code, public_id_of_customer in zip(codes, customer_ids, strict=True):
            found = customer_services.customers_with_identity_code(session, newer, code)
            assert [c.public_id for c in found] == [public_id_of_customer]
        with pytest.raises(Conflict):
            key_rotation.retire_version(command(session, clock.now), newer, 1)

    # Stopped again in the middle of the recordings.
    phases = []
    while True:
        progress = key_rotation.run_rotation(
            database, newer, storage, public_id, clock=lambda: clock.now, max_batches=1
        )
        assert progress is not None
        phases.append(progress.phase)
        if progress.phase == "recordings" and progress.cursor:
            break
    with database.unit_of_work() as session:
        assert key_rotation.usage(session)["recordings"] == {1: 2, 2: 1}

    # Resumed to the end.
    finished = key_rotation.run_rotation(
        database, newer, storage, public_id, clock=lambda: clock.now
    )
    assert finished is not None
    assert finished.phase == "finished"
    assert finished.objects_done == 6  # each recording: original and listening copy, once
    again = key_rotation.run_rotation(database, newer, storage, public_id, clock=lambda: clock.now)
    assert again is not None
    assert again.objects_done == 6

    with database.unit_of_work() as session:
        usage = key_rotation.usage(session)
        assert usage["identity codes"] == {2: len(codes)}
        assert usage["recordings"] == {2: 3}
        for public_id_of_customer, code in zip(customer_ids, codes, strict=True):
            customer = session.scalar(
                sa.select(Customer).where(Customer.public_id == public_id_of_customer)
            )
            assert customer is not None
            assert customer.identity_code_ciphertext is not None
            assert customer.identity_code_ciphertext[0] == 2
            assert customer_services.decrypt_identity_code(newer, customer) == code
            found = customer_services.customers_with_identity_code(session, newer, code)
            assert [c.public_id for c in found] == [public_id_of_customer]
        for recording in session.scalars(sa.select(Recording)):
            assert b"".join(storage.open(recording.storage_key)) == originals[recording.id]
            assert storage.key_version(recording.storage_key) == 2
            assert storage.key_version(recording.playback_key) == 2
            with pytest.raises(SealedObjectCorrupt):
                b"".join(old_storage.open(recording.storage_key))  # version 1 alone: refused
        key_rotation.retire_version(command(session, clock.now), newer, 1)
        with pytest.raises(Conflict):
            key_rotation.retire_version(command(session, clock.now), newer, 2)
        actions = [
            event.action
            for event in session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))
            if event.action.value.startswith("key_")
        ]
        assert actions == [
            AuditAction.KEY_ROTATION_STARTED,
            AuditAction.KEY_ROTATION_FINISHED,
            AuditAction.KEY_VERSION_RETIRED,
        ]


def test_only_the_deployment_starts_a_rotation_or_retires_a_version(
    database: Database, make_staff: Any, clock: Any
) -> None:
    from cs_register.errors import PermissionDenied

    admin = make_staff("admin")
    keys = Keyring(encryption_key=os.urandom(32), index_key=os.urandom(32))
    with database.unit_of_work() as session:
        ctx = make_context(session, session.get(StaffUser, admin.id), clock.now)
        with pytest.raises(PermissionDenied):
            key_rotation.start_rotation(ctx, keys)
        with pytest.raises(PermissionDenied):
            key_rotation.retire_version(ctx, keys, 1)
