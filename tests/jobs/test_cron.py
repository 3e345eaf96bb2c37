"""The cron scheduler registers the periodic jobs from jobs/cron_config.py and enqueues them
in a form the JSON-only worker can run (RQ's own `rq cron` would pickle them)."""

from __future__ import annotations

import json
import zlib

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from cs_register.config import Settings
from jobs.cron import JSONCronScheduler, main
from jobs.queue import QUEUE_NAME, get_queue


def test_cron_config_registers_the_session_purge_with_settings(
    job_env: Settings, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEEP_INTERVAL_MINUTES", "7")
    scheduler = JSONCronScheduler(connection=redis)
    scheduler.load_config_from_file("jobs.cron_config")

    [cron_job] = [job for job in scheduler.get_jobs() if job.name == "purge-expired-staff-sessions"]
    assert cron_job.func_name == "jobs.maintenance.purge_expired_staff_sessions_job"
    assert cron_job.queue_name == QUEUE_NAME
    assert cron_job.interval == 7 * 60
    assert cron_job.job_options["result_ttl"] == job_env.rq_result_ttl_seconds
    assert cron_job.job_options["failure_ttl"] == job_env.rq_failure_ttl_seconds


def test_a_cron_tick_enqueues_a_json_job_the_worker_runs(job_env: Settings, redis: Redis) -> None:
    scheduler = JSONCronScheduler(connection=redis)
    scheduler.load_config_from_file("jobs.cron_config")

    # An interval job that never ran is due at once (the retention jobs: test_retention_jobs).
    enqueued_jobs = scheduler.enqueue_jobs()
    [enqueued] = [job for job in enqueued_jobs if job.name == "purge-expired-staff-sessions"]
    [job_id] = [
        job_id
        for job_id in get_queue(redis, job_env).queue.job_ids
        if Job.fetch(job_id, connection=redis, serializer=JSONSerializer).func_name
        == "jobs.maintenance.purge_expired_staff_sessions_job"
    ]
    payload = json.loads(zlib.decompress(redis.hget(f"rq:job:{job_id}", "data") or b""))
    assert payload[0] == "jobs.maintenance.purge_expired_staff_sessions_job"
    assert scheduler.enqueue_jobs() == []  # not due again until the interval has passed

    job_queue = get_queue(redis, job_env)
    for other in job_queue.queue.job_ids:
        if other != job_id:
            job_queue.queue.remove(other)  # this test is about the session purge only
    SimpleWorker([job_queue.queue], connection=redis, serializer=JSONSerializer).work(burst=True)
    job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == {"purged": 0}
    assert enqueued.name == "purge-expired-staff-sessions"


def test_runner_needs_a_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
