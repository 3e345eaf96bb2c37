"""The periodic jobs, in RQ's cron config format, loaded by `python -m jobs.cron`.

Read by the scheduler process only, so reading its settings here (interval, TTLs) is fine.
Each tick enqueues one idempotent job; an overlapping or repeated run does no harm. The
retention jobs get a fixed job id per tick (`per_tick`), so two schedulers, or a scheduler
restarted within an interval, cannot enqueue two sweeps for the same tick.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rq import cron

from jobs.context import job_settings
from jobs.cron import per_tick
from jobs.keys import ROTATION_JOB_TIMEOUT_SECONDS, ROTATIONS_JOB_PREFIX, key_rotations_job
from jobs.maintenance import (
    purge_expired_staff_sessions_job,
    purge_old_sign_ins_job,
    purge_webhook_deliveries_job,
)
from jobs.privacy import (
    ERASURES_JOB_PREFIX,
    EXPORT_JOB_TIMEOUT_SECONDS,
    EXPORTS_JOB_PREFIX,
    privacy_erasures_job,
    privacy_exports_job,
)
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

RECONCILIATION_INTERVAL = 3600  # seconds


def register_jobs() -> None:
    settings = job_settings()
    sweep_interval = settings.sweep_interval_minutes * 60
    ttls: dict[str, Any] = {
        "result_ttl": settings.rq_result_ttl_seconds,
        "failure_ttl": settings.rq_failure_ttl_seconds,
    }
    # The retention and export jobs get one job id per tick; the sweep and reconciliation may
    # run long after an outage, and an export copies audio, so they get long timeouts.
    long_running = {"job_timeout": SWEEP_JOB_TIMEOUT_SECONDS}
    exports_timeout = {"job_timeout": EXPORT_JOB_TIMEOUT_SECONDS}
    schedule: list[tuple[Callable[..., Any], str, int, dict[str, Any]]] = [
        (purge_expired_staff_sessions_job, "purge-expired-staff-sessions", sweep_interval, {}),
        (purge_webhook_deliveries_job, "purge-webhook-deliveries", RECONCILIATION_INTERVAL, {}),
        (purge_old_sign_ins_job, "purge-old-sign-ins", RECONCILIATION_INTERVAL, {}),
        (retention_sweep_job, SWEEP_JOB_PREFIX, sweep_interval, long_running),
        (invariant_check_job, INVARIANT_JOB_PREFIX, sweep_interval, {}),
        (reconciliation_job, RECONCILIATION_JOB_PREFIX, RECONCILIATION_INTERVAL, long_running),
        (privacy_exports_job, EXPORTS_JOB_PREFIX, sweep_interval, exports_timeout),
        (privacy_erasures_job, ERASURES_JOB_PREFIX, sweep_interval, exports_timeout),
        # Resumes a rotation whose worker was killed; nothing to do (one query) otherwise.
        (
            key_rotations_job,
            ROTATIONS_JOB_PREFIX,
            RECONCILIATION_INTERVAL,
            {"job_timeout": ROTATION_JOB_TIMEOUT_SECONDS},
        ),
    ]
    one_per_tick = {
        SWEEP_JOB_PREFIX,
        INVARIANT_JOB_PREFIX,
        RECONCILIATION_JOB_PREFIX,
        EXPORTS_JOB_PREFIX,
        ERASURES_JOB_PREFIX,
        ROTATIONS_JOB_PREFIX,
    }
    for job, name, interval, options in schedule:
        if name in one_per_tick:
            options = {**options, "meta": per_tick(name)}
        cron.register(job, QUEUE_NAME, name=name, interval=interval, **options, **ttls)


register_jobs()
