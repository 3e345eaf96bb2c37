"""The periodic jobs, in RQ's cron config format, loaded by `python -m jobs.cron`.

Read by the scheduler process only, so reading its settings here (interval, TTLs) is fine.
Each tick enqueues one idempotent job; an overlapping or repeated run does no harm.
"""

from __future__ import annotations

from rq import cron

from jobs.context import job_settings
from jobs.maintenance import purge_expired_staff_sessions_job
from jobs.queue import QUEUE_NAME


def register_jobs() -> None:
    settings = job_settings()
    cron.register(
        purge_expired_staff_sessions_job,
        QUEUE_NAME,
        name="purge-expired-staff-sessions",
        interval=settings.sweep_interval_minutes * 60,
        result_ttl=settings.rq_result_ttl_seconds,
        failure_ttl=settings.rq_failure_ttl_seconds,
    )


register_jobs()
