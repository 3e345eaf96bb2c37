"""The periodic jobs, in RQ's cron config format, loaded by `python -m jobs.cron`.

Read by the scheduler process only, so reading its settings here (interval, TTLs) is fine.
Each tick enqueues one idempotent job; an overlapping or repeated run does no harm. The
retention jobs get a fixed job id per tick (`per_tick`), so two schedulers, or a scheduler
restarted within an interval, cannot enqueue two sweeps for the same tick.
"""

from __future__ import annotations

from rq import cron

from jobs.context import job_settings
from jobs.cron import per_tick
from jobs.maintenance import purge_expired_staff_sessions_job, purge_webhook_deliveries_job
from jobs.queue import QUEUE_NAME
from jobs.retention import (
    INVARIANT_JOB_PREFIX,
    RECONCILIATION_JOB_PREFIX,
    SWEEP_JOB_PREFIX,
    SWEEP_JOB_TIMEOUT_SECONDS,
    invariant_check_job,
    reconciliation_job,
    retention_sweep_job,
)

RECONCILIATION_INTERVAL_SECONDS = 3600


def register_jobs() -> None:
    settings = job_settings()
    sweep_interval = settings.sweep_interval_minutes * 60
    result_ttl = settings.rq_result_ttl_seconds
    failure_ttl = settings.rq_failure_ttl_seconds
    cron.register(
        purge_expired_staff_sessions_job,
        QUEUE_NAME,
        name="purge-expired-staff-sessions",
        interval=sweep_interval,
        result_ttl=result_ttl,
        failure_ttl=failure_ttl,
    )
    cron.register(
        purge_webhook_deliveries_job,
        QUEUE_NAME,
        name="purge-webhook-deliveries",
        interval=RECONCILIATION_INTERVAL_SECONDS,
        result_ttl=result_ttl,
        failure_ttl=failure_ttl,
    )
    cron.register(
        retention_sweep_job,
        QUEUE_NAME,
        name=SWEEP_JOB_PREFIX,
        interval=sweep_interval,
        job_timeout=SWEEP_JOB_TIMEOUT_SECONDS,
        meta=per_tick(SWEEP_JOB_PREFIX),
        result_ttl=result_ttl,
        failure_ttl=failure_ttl,
    )
    cron.register(
        invariant_check_job,
        QUEUE_NAME,
        name=INVARIANT_JOB_PREFIX,
        interval=sweep_interval,
        meta=per_tick(INVARIANT_JOB_PREFIX),
        result_ttl=result_ttl,
        failure_ttl=failure_ttl,
    )
    cron.register(
        reconciliation_job,
        QUEUE_NAME,
        name=RECONCILIATION_JOB_PREFIX,
        interval=RECONCILIATION_INTERVAL_SECONDS,
        job_timeout=SWEEP_JOB_TIMEOUT_SECONDS,
        meta=per_tick(RECONCILIATION_JOB_PREFIX),
        result_ttl=result_ttl,
        failure_ttl=failure_ttl,
    )


register_jobs()
