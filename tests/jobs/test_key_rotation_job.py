"""The key rotation job (`jobs.keys`) under a real failure: a real `rq worker` process killed
with SIGKILL mid-rotation, then the periodic run on a new worker resumes from the rotation's
committed cursor and finishes. Nothing is lost: every identity code decrypts to what it was,
every recording's audio has its recorded SHA-256, and the old key version can be retired."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from redis import Redis

from cs_register.config import Settings, write_key_version
from cs_register.context import Context
from cs_register.customers import services as customer_services
from cs_register.customers.models import Customer
from cs_register.db import Database
from cs_register.devstack import EmbeddedRedis
from cs_register.permissions import Actor
from cs_register.staff.models import StaffUser
from jobs.context import job_runtime, job_settings
from jobs.keys import KEY_ROTATION, ROTATIONS_JOB_PREFIX, key_rotations_job
from jobs.queue import enqueue_once_per_tick, get_queue
from recordings import key_rotation
from recordings.key_rotation import KeyRotation
from recordings.models import Recording
from recordings.sealing import SealedStorage
from recordings.storage import LocalStorage
from tests.jobs.conftest import seed_recordings, start_worker
from tests.jobs.test_worker_processes import _kill_once_under_way, _wait
from tests.support.context import make_context
from tests.support.redis_dump import everything_in

CHECK_CHARACTERS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
CUSTOMERS = 300
RECORDINGS = 800
# Of which sealed under version 1 before the rotation (the rest are plaintext, stored before
# sealing was switched on): the rotation re-wraps the first and seals the second.
SEALED_BEFORE = 200


def identity_code(individual: int) -> str:
    digits = f"131052{individual:03d}"
    return f"131052-{individual:03d}{CHECK_CHARACTERS[int(digits) % 31]}"


def _rotation(database: Database, public_id: str) -> KeyRotation:
    with database.session_factory() as session:
        rotation = session.scalar(sa.select(KeyRotation).where(KeyRotation.public_id == public_id))
        assert rotation is not None
        session.expunge(rotation)
        return rotation


def test_a_rotation_killed_mid_way_is_resumed_and_loses_nothing(
    retention_env: Settings,
    redis_server: EmbeddedRedis,
    redis: Redis,
    database: Database,
    make_staff: Callable[..., StaffUser],
    tmp_path: Path,
) -> None:
    worker_logs = tmp_path / "worker-logs"
    worker_logs.mkdir()
    before = job_runtime(retention_env)
    assert isinstance(before.storage, SealedStorage)
    agent = make_staff("supervisor", username="rotation-agent")
    codes: dict[str, str] = {}
    with database.unit_of_work() as session:
        ctx = make_context(session, session.get(StaffUser, agent.id), before.clock())
        for number in range(CUSTOMERS):
            code = identity_code(2 + number)
            customer = customer_services.create_customer(
                ctx,
                before.keyring,
                form={"given_names": "Test", "family_name": "Rotated", "identity_code": code},
            )
            codes[customer.public_id] = code
    inner = LocalStorage(retention_env.storage_root)
    seeded = seed_recordings(database, inner, not_due=RECORDINGS)
    sealed_ids = sorted(seeded.not_due)[:SEALED_BEFORE]
    with database.unit_of_work() as session:
        for recording in session.scalars(sa.select(Recording).where(Recording.id.in_(sealed_ids))):
            assert recording.storage_key is not None
            assert before.storage.reseal(recording.storage_key, version=1)
            recording.key_version = 1

    # `flask keys rotate` in development: version 2 in the key folder, which every job
    # process reads when it starts.
    write_key_version(retention_env.instance_path, 2)
    after = job_runtime(job_settings())
    assert after.keyring.current_version == 2
    with database.unit_of_work() as session:
        ctx = Context(session=session, actor=Actor.deployment(), now=after.clock())
        public_id = key_rotation.start_rotation(ctx, after.keyring).public_id
    job_queue = get_queue(redis, retention_env)
    KEY_ROTATION.enqueue(job_queue, public_id)

    def mid_recordings() -> bool:
        rotation = _rotation(database, public_id)
        return rotation.phase == "recordings" and rotation.objects_done >= 100

    _kill_once_under_way(redis_server.url, worker_logs / "doomed.log", mid_recordings)
    killed = _rotation(database, public_id)
    assert killed.phase == "recordings"
    assert killed.objects_done < RECORDINGS, "the kill must land mid-rotation"
    with database.session_factory() as session:
        usage = key_rotation.usage(session)
    assert usage["identity codes"] == {2: CUSTOMERS}
    assert 2 in usage["recordings"]
    assert usage["recordings"][2] < RECORDINGS

    # The periodic run finds the unfinished rotation in the database and resumes it.
    assert (
        enqueue_once_per_tick(
            job_queue.queue,
            key_rotations_job,
            job_id_prefix=ROTATIONS_JOB_PREFIX,
            tick="20261123T1100",
            **job_queue.expiry,
        )
        is not None
    )
    survivor = start_worker(redis_server.url, worker_logs / "survivor.log", name="survivor")
    assert _wait(survivor) == 0, (worker_logs / "survivor.log").read_text()

    finished = _rotation(database, public_id)
    assert finished.phase == "finished"
    assert finished.finished_at is not None
    assert finished.cursor == 0
    # Each recording object was moved once, by one worker or the other (a batch the killed
    # worker had not committed was redone, and its objects already under version 2 skipped).
    assert finished.objects_done <= RECORDINGS
    strict = SealedStorage(inner, after.keyring.audio, read_plaintext=False)
    with database.session_factory() as session:
        usage = key_rotation.usage(session)
        assert usage["identity codes"] == {2: CUSTOMERS}
        assert usage["recordings"] == {2: RECORDINGS}
        for public_id_of_customer, code in codes.items():
            stored = session.scalar(
                sa.select(Customer).where(Customer.public_id == public_id_of_customer)
            )
            assert stored is not None
            assert stored.identity_code_ciphertext is not None
            decrypted = after.keyring.identity_code.decrypt(
                stored.identity_code_ciphertext, row_id=public_id_of_customer
            )
            assert decrypted == code
            # The blind index is version 2's: a search finds the customer.
            found = customer_services.customers_with_identity_code(session, after.keyring, code)
            assert [c.public_id for c in found] == [public_id_of_customer]
        rows = session.execute(sa.select(Recording.storage_key, Recording.sha256)).all()
        assert len(rows) == RECORDINGS
        for storage_key, sha256 in rows:
            assert storage_key is not None
            assert strict.key_version(storage_key) == 2
            assert hashlib.sha256(b"".join(strict.open(storage_key))).hexdigest() == sha256
    assert sum(1 for _ in inner.iter_keys()) == RECORDINGS
    # Redis carried the rotation's public id and counts, never a key.
    key_file = retention_env.instance_path / "keys" / "data_encryption_key.v2"
    assert key_file.read_text().strip() not in everything_in(redis)

    with database.unit_of_work() as session:
        ctx = Context(session=session, actor=Actor.deployment(), now=after.clock())
        key_rotation.retire_version(ctx, after.keyring, 1)
