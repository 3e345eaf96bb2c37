"""The staff-session purge, end to end: enqueued through our helper into a real Redis, run by
a real RQ worker with the JSON serializer, against a real database."""

from __future__ import annotations

import base64
import json
import secrets
import zlib
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from redis import Redis
from rq import SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from cs_register.config import Settings
from cs_register.db import Database, utcnow
from cs_register.staff.models import StaffSession, StaffUser
from cs_register.staff.sessions import hash_token
from jobs import context
from jobs.maintenance import purge_expired_staff_sessions_job
from jobs.queue import JobQueue, enqueue_purge_expired_staff_sessions, get_queue
from tests.support.redis_dump import everything_in

USERNAME = "maija.virtanen"


def _add_session(
    database: Database,
    user: StaffUser,
    *,
    age: timedelta,
    idle: timedelta = timedelta(minutes=5),
    revoked_ago: timedelta | None = None,
) -> tuple[int, str]:
    """A session row created `age` ago and last used `idle` ago, relative to the real clock
    (the job reads the wall clock; the margins here are minutes to hours)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with database.unit_of_work() as session:
        row = StaffSession(
            token_hash=hash_token(token),
            user_id=user.id,
            created_at=now - age,
            last_seen_at=now - min(idle, age),
            revoked_at=now - revoked_ago if revoked_ago is not None else None,
            revoked_reason="logout" if revoked_ago is not None else None,
        )
        session.add(row)
        session.flush()
        return row.id, token


def _remaining_session_ids(database: Database) -> set[int]:
    with database.unit_of_work() as session:
        return set(session.scalars(sa.select(StaffSession.id)))


def _run_worker(job_queue: JobQueue, redis: Redis) -> None:
    worker = SimpleWorker([job_queue.queue], connection=redis, serializer=JSONSerializer)
    worker.work(burst=True)


def test_purge_job_removes_only_dead_sessions_through_a_real_worker(
    job_env: Settings,
    redis: Redis,
    database: Database,
    make_staff: Callable[..., StaffUser],
) -> None:
    user = make_staff("agent", username=USERNAME)
    live, live_token = _add_session(database, user, age=timedelta(hours=1))
    nearly_old, _ = _add_session(database, user, age=timedelta(hours=11))
    stale, stale_token = _add_session(database, user, age=timedelta(hours=13))
    idle, _ = _add_session(database, user, age=timedelta(hours=2), idle=timedelta(minutes=45))
    revoked, _ = _add_session(
        database, user, age=timedelta(hours=1), revoked_ago=timedelta(minutes=30)
    )
    assert _remaining_session_ids(database) == {live, nearly_old, stale, idle, revoked}

    job_queue = get_queue(redis, job_env)
    job = enqueue_purge_expired_staff_sessions(job_queue)

    # The payload is JSON naming the entry point, with no arguments at all.
    payload = json.loads(zlib.decompress(redis.hget(f"rq:job:{job.id}", "data") or b""))
    assert payload == ["jobs.maintenance.purge_expired_staff_sessions_job", None, [], {}]

    _run_worker(job_queue, redis)

    job = Job.fetch(job.id, connection=redis, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FINISHED
    assert _remaining_session_ids(database) == {live, nearly_old}

    # The stored result is plain JSON, readable without our code.
    [(_entry_id, fields)] = redis.xrange(f"rq:results:{job.id}")
    assert json.loads(base64.b64decode(fields[b"return_value"])) == {"purged": 3}
    assert job.return_value() == {"purged": 3}
    # Results expire after the configured short TTL instead of RQ's default.
    assert 0 < redis.ttl(f"rq:job:{job.id}") <= job_env.rq_result_ttl_seconds

    # Nothing that identifies the staff member or their sessions ended up in Redis.
    dump = everything_in(redis)
    assert "purge_expired_staff_sessions_job" in dump  # the dump does see job data
    for secret in (
        USERNAME,
        user.display_name,
        user.public_id,
        live_token,
        stale_token,
        hash_token(live_token),
    ):
        assert secret not in dump


def test_purge_job_is_idempotent(
    job_env: Settings, database: Database, make_staff: Callable[..., StaffUser]
) -> None:
    user = make_staff("agent")
    live, _ = _add_session(database, user, age=timedelta(minutes=5))
    _add_session(database, user, age=timedelta(days=3))

    assert purge_expired_staff_sessions_job() == {"purged": 1}
    assert purge_expired_staff_sessions_job() == {"purged": 0}
    assert _remaining_session_ids(database) == {live}


def test_a_failed_job_keeps_its_record_only_for_the_failure_ttl(
    job_env: Settings,
    redis: Redis,
    database_factory: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A database without tables makes the job fail inside the worker.
    empty_url = database_factory.empty_url()  # type: ignore[attr-defined]
    monkeypatch.setenv("DATABASE_URL", empty_url)
    try:
        job_queue = get_queue(redis, job_env)
        job = enqueue_purge_expired_staff_sessions(job_queue)
        _run_worker(job_queue, redis)

        job = Job.fetch(job.id, connection=redis, serializer=JSONSerializer)
        assert job.get_status() == JobStatus.FAILED
        assert job.id in job_queue.queue.failed_job_registry.get_job_ids()
        assert 0 < redis.ttl(f"rq:job:{job.id}") <= job_env.rq_failure_ttl_seconds
    finally:
        context.dispose_job_databases()
        database_factory.drop(empty_url)  # type: ignore[attr-defined]


def test_job_arguments_must_be_plain_values(job_env: Settings, redis: Redis) -> None:
    job_queue = get_queue(redis, job_env)
    with pytest.raises(TypeError, match="plain values"):
        job_queue.enqueue(purge_expired_staff_sessions_job, {"username": USERNAME})  # type: ignore[arg-type]
    assert job_queue.queue.count == 0


def test_job_database_is_built_lazily_and_cached_per_url(job_env: Settings) -> None:
    context.dispose_job_databases()
    first = context.job_database()
    assert context.job_database() is first
    assert first.url == job_env.database_url
    context.dispose_job_databases()
    assert context.job_database() is not first


def test_webhook_delivery_records_are_forgotten_after_the_replay_window(
    job_env: Settings, database: Database
) -> None:
    from cs_register.intake.chatbot import DELIVERY_RETENTION
    from cs_register.intake.models import WebhookDelivery
    from jobs.maintenance import purge_webhook_deliveries_job

    now = utcnow()
    with database.unit_of_work() as session:
        for webhook_id, age in (
            ("msg_old", DELIVERY_RETENTION + timedelta(hours=1)),
            ("msg_recent", DELIVERY_RETENTION - timedelta(hours=1)),
        ):
            session.add(
                WebhookDelivery(
                    webhook_id=webhook_id, received_at=now - age, status_code=201, response={}
                )
            )

    assert purge_webhook_deliveries_job() == {"purged": 1}
    assert purge_webhook_deliveries_job() == {"purged": 0}
    with database.unit_of_work() as session:
        assert list(session.scalars(sa.select(WebhookDelivery.webhook_id))) == ["msg_recent"]
