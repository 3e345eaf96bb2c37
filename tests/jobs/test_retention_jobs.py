"""The retention jobs in-process (RQ's SimpleWorker on a real Redis, a real database): ticks,
unique job ids per tick, the JSON payloads, the cron registration, and what each job returns
and logs. The failure scenarios with real worker processes are in test_worker_processes.py.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from redis import Redis
from rq import SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from cs_register.config import Settings
from cs_register.db import Database
from cs_register.staff.models import StaffUser
from jobs import cron as cron_module
from jobs.cron import JSONCronScheduler
from jobs.queue import JobQueue, get_queue
from jobs.retention import (
    SWEEP_JOB_TIMEOUT_SECONDS,
    enqueue_retention_sweep,
    invariant_check_job,
    reconciliation_job,
    retention_sweep_job,
    tick_for,
)
from recordings.models import PurgeReceipt, Recording, RecordingState
from recordings.storage import LocalStorage
from tests.jobs.conftest import seed_recordings

TICK = "20261123T1005"


@pytest.fixture
def storage(retention_env: Settings) -> LocalStorage:
    return LocalStorage(retention_env.storage_root)


def _run_worker(job_queue: JobQueue, redis: Redis) -> None:
    SimpleWorker([job_queue.queue], connection=redis, serializer=JSONSerializer).work(burst=True)


def _payload(redis: Redis, job_id: str) -> list[object]:
    data = redis.hget(f"rq:job:{job_id}", "data")
    assert isinstance(data, bytes)
    decoded: list[object] = json.loads(zlib.decompress(data))
    return decoded


@pytest.mark.parametrize(
    ("moment", "minutes", "tick"),
    [
        (datetime(2026, 11, 23, 10, 5, tzinfo=UTC), 5, "20261123T1005"),
        (datetime(2026, 11, 23, 10, 9, 59, 999999, tzinfo=UTC), 5, "20261123T1005"),
        (datetime(2026, 11, 23, 10, 10, tzinfo=UTC), 5, "20261123T1010"),
        # Helsinki time is converted: 12:07 EET is 10:07 UTC.
        (datetime(2026, 11, 23, 12, 7, tzinfo=ZoneInfo("Europe/Helsinki")), 5, "20261123T1005"),
        (datetime(2026, 11, 23, 10, 59, tzinfo=UTC), 60, "20261123T1000"),
    ],
)
def test_a_tick_is_the_utc_start_of_its_interval(moment: datetime, minutes: int, tick: str) -> None:
    assert tick_for(moment, timedelta(minutes=minutes)) == tick


def test_the_same_tick_enqueued_twice_is_one_job(job_env: Settings, redis: Redis) -> None:
    job_queue = get_queue(redis, job_env)
    first = enqueue_retention_sweep(job_queue, tick=TICK)
    assert first is not None
    assert first.id == f"retention-sweep-{TICK}"
    assert enqueue_retention_sweep(job_queue, tick=TICK) is None
    assert job_queue.queue.job_ids == [f"retention-sweep-{TICK}"]
    # The next tick is a different job.
    assert enqueue_retention_sweep(job_queue, tick="20261123T1010") is not None
    assert job_queue.queue.count == 2


def test_a_sweep_job_is_json_with_plain_arguments_and_short_ttls(
    job_env: Settings, redis: Redis
) -> None:
    job = enqueue_retention_sweep(get_queue(redis, job_env), tick=TICK)
    assert job is not None
    # JSON, readable without our code; a pickle would start with b"\x80".
    assert _payload(redis, job.id) == ["jobs.retention.retention_sweep_job", None, [TICK], {}]
    fetched = Job.fetch(job.id, connection=redis, serializer=JSONSerializer)
    assert fetched.result_ttl == job_env.rq_result_ttl_seconds
    assert fetched.failure_ttl == job_env.rq_failure_ttl_seconds
    # A long catch-up sweep is not cut off at RQ's default of 180 s.
    assert fetched.timeout == SWEEP_JOB_TIMEOUT_SECONDS


def test_only_ticks_are_accepted(job_env: Settings, redis: Redis) -> None:
    job_queue = get_queue(redis, job_env)
    with pytest.raises(ValueError, match="does not match"):
        enqueue_retention_sweep(job_queue, tick="2026-11-23 10:05")
    assert job_queue.queue.count == 0


def test_cron_config_registers_the_retention_jobs(
    job_env: Settings, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEEP_INTERVAL_MINUTES", "7")
    scheduler = JSONCronScheduler(connection=redis)
    scheduler.load_config_from_file("jobs.cron_config")
    intervals = {job.name: (job.func_name, job.interval) for job in scheduler.get_jobs()}
    assert intervals["retention-sweep"] == ("jobs.retention.retention_sweep_job", 7 * 60)
    assert intervals["retention-invariants"] == ("jobs.retention.invariant_check_job", 7 * 60)
    assert intervals["retention-reconciliation"] == ("jobs.retention.reconciliation_job", 3600)


def test_two_schedulers_in_the_same_interval_enqueue_one_sweep(
    job_env: Settings, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cron_module, "rq_now", lambda: datetime(2026, 11, 23, 10, 7, tzinfo=UTC))
    for _scheduler in range(2):
        scheduler = JSONCronScheduler(connection=redis)
        scheduler.load_config_from_file("jobs.cron_config")
        scheduler.enqueue_jobs()

    job_queue = get_queue(redis, job_env)
    retention_ids = sorted(job_id for job_id in job_queue.queue.job_ids if "retention" in job_id)
    assert retention_ids == [
        "retention-invariants-20261123T1005",
        "retention-reconciliation-20261123T1000",
        "retention-sweep-20261123T1005",
    ]
    # The tick is the job's argument, and the scheduler's marker is not left in its meta.
    assert _payload(redis, "retention-sweep-20261123T1005")[2] == ["20261123T1005"]
    job = Job.fetch("retention-sweep-20261123T1005", connection=redis, serializer=JSONSerializer)
    assert cron_module.PER_TICK_META_KEY not in job.meta

    # Five minutes later is the next tick: a new sweep.
    monkeypatch.setattr(cron_module, "rq_now", lambda: datetime(2026, 11, 23, 10, 12, tzinfo=UTC))
    scheduler = JSONCronScheduler(connection=redis)
    scheduler.load_config_from_file("jobs.cron_config")
    scheduler.enqueue_jobs()
    assert "retention-sweep-20261123T1010" in job_queue.queue.job_ids
    assert job_queue.queue.job_ids.count("retention-sweep-20261123T1005") == 1


def test_the_sweep_job_purges_what_is_due_and_signs_receipts_with_its_job_id(
    retention_env: Settings,
    redis: Redis,
    database: Database,
    storage: LocalStorage,
    make_staff: Callable[..., StaffUser],
) -> None:
    supervisor = make_staff("supervisor")
    seeded = seed_recordings(
        database, storage, due=12, not_due=4, held=3, hold_placed_by=supervisor.id
    )
    job_queue = get_queue(redis, retention_env)
    job = enqueue_retention_sweep(job_queue, tick=TICK)
    assert job is not None
    _run_worker(job_queue, redis)

    job = Job.fetch(job.id, connection=redis, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FINISHED
    result = job.return_value()
    assert result is not None
    assert result["purged"] == 12
    assert result["due_remaining"] == 0
    # Counts only: every value in the result is a number.
    assert all(isinstance(value, int) for value in result.values())
    with database.unit_of_work() as session:
        job_ids = set(session.scalars(sa.select(PurgeReceipt.job_id)))
        purged = set(
            session.scalars(sa.select(Recording.id).where(Recording.state == RecordingState.PURGED))
        )
    assert job_ids == {f"retention-sweep-{TICK}"}
    assert purged == seeded.due

    # Idempotent: running the sweep again purges nothing more.
    assert retention_sweep_job("20261123T1010")["purged"] == 0


def test_the_invariant_check_logs_an_error_for_overdue_recordings_only(
    retention_env: Settings,
    database: Database,
    storage: LocalStorage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed_recordings(database, storage, not_due=3)
    with caplog.at_level(logging.INFO, logger="jobs.retention"):
        assert invariant_check_job(TICK) == {"violations": 0}
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]

    # Due five days ago and still stored: the sweep has not been running.
    overdue = seed_recordings(database, storage, due=2)
    with database.unit_of_work() as session:
        public_ids = set(
            session.scalars(sa.select(Recording.public_id).where(Recording.id.in_(overdue.due)))
        )
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jobs.retention"):
        assert invariant_check_job(TICK) == {"violations": 2, "overdue": 2}
    [error] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    message = error.getMessage()
    assert "2 recording(s)" in message
    assert all(public_id in message for public_id in public_ids)

    # After a sweep the invariant holds again.
    retention_sweep_job(TICK)
    assert invariant_check_job(TICK) == {"violations": 0}


def test_the_reconciliation_job_reports_and_repairs_counts(
    retention_env: Settings,
    redis: Redis,
    database: Database,
    storage: LocalStorage,
) -> None:
    seeded = seed_recordings(database, storage, not_due=3)
    assert reconciliation_job() == {
        "missing_audio": 0,
        "orphan_files": 0,
        "marked_missing": 0,
        "deleted_orphans": 0,
        "abandoned_uploads_removed": 0,
    }
    # One recording's audio vanished from storage behind the application's back.
    with database.unit_of_work() as session:
        key = session.scalar(
            sa.select(Recording.storage_key).where(Recording.id == min(seeded.not_due))
        )
    assert key is not None
    storage.path_for(key).unlink()

    job_queue = get_queue(redis, retention_env)
    job = job_queue.enqueue(reconciliation_job)
    _run_worker(job_queue, redis)
    result = Job.fetch(job.id, connection=redis, serializer=JSONSerializer).return_value()
    assert result is not None
    assert result["missing_audio"] == 1
    assert result["marked_missing"] == 1
    # Repaired: a second run finds nothing.
    assert reconciliation_job()["missing_audio"] == 0


def test_a_sweep_that_could_not_purge_everything_fails_after_doing_the_rest(
    retention_env: Settings,
    redis: Redis,
    database: Database,
    storage: LocalStorage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed_recordings(database, storage, due=5)
    with database.unit_of_work() as session:
        stuck_key = session.scalars(
            sa.select(Recording.storage_key).order_by(Recording.id).limit(1)
        ).one()
    real_delete = LocalStorage.delete

    def failing_delete(self: LocalStorage, key: str) -> bool:
        if key == stuck_key:
            raise OSError("storage unavailable")
        return real_delete(self, key)

    monkeypatch.setattr(LocalStorage, "delete", failing_delete)
    job_queue = get_queue(redis, retention_env)
    job = enqueue_retention_sweep(job_queue, tick=TICK)
    assert job is not None
    _run_worker(job_queue, redis)

    job = Job.fetch(job.id, connection=redis, serializer=JSONSerializer)
    # The job ends in RQ's failed registry, where alerting sees it...
    assert job.get_status() == JobStatus.FAILED
    assert job.id in job_queue.queue.failed_job_registry.get_job_ids()
    # ...after purging everything else that was due.
    with database.unit_of_work() as session:
        states = session.execute(
            sa.select(Recording.storage_key, Recording.state).order_by(Recording.id)
        ).all()
    assert [state for _key, state in states].count(RecordingState.PURGED) == 4
    # Storage is back: the next sweep finishes the job.
    monkeypatch.setattr(LocalStorage, "delete", real_delete)
    assert retention_sweep_job("20261123T1010")["purged"] == 1
