"""The retention engine's jobs: the sweep, reconciliation and the invariant monitor.

The database is the schedule: each recording row carries its `due_at`, and a periodic sweep
purges whatever is due at that moment (`recordings.sweep.run_sweep`). Redis only carries the
request "sweep now", never a per-recording job scheduled months ahead, so losing Redis loses
nothing: the next sweep catches up.

Each sweep has a fixed job id per tick (`retention-sweep-20261123T1005`, the UTC start of its
interval) and is enqueued with `unique=True`, so two schedulers or a double trigger produce
one job. Even if two sweeps do overlap, the purge itself locks each row and is idempotent.

Results are counts only; recordings' public ids (random UUIDs, identifying no person) appear in
the log only when an invariant is violated, because an operator needs them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sized
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from rq.job import Job

from cs_register.consents.feed import remove_old_notices
from cs_register.db import utcnow
from cs_register.privacy.data_retention import sweep_customer_service_data
from cs_register.sources import build_registry
from cs_register.statistics.rollup import roll_up
from jobs.context import current_job_id, job_database, job_runtime
from jobs.queue import JobQueue, enqueue_once_per_tick
from recordings.purge import Deadline
from recordings.sweep import check_invariants, reconcile, run_sweep

log = logging.getLogger(__name__)

R = TypeVar("R")

SWEEP_JOB_PREFIX = "retention-sweep"
RECONCILIATION_JOB_PREFIX = "retention-reconciliation"
INVARIANT_JOB_PREFIX = "retention-invariants"
TICK_FORMAT = "%Y%m%dT%H%M"
# RQ kills a job after 180 s by default; a catch-up sweep after a long outage may take longer.
# An interrupted sweep is harmless (the next one resumes), but finishing in one go is better.
SWEEP_JOB_TIMEOUT_SECONDS = 3600
# The sweep stops starting deletions this long before RQ would kill it, so it ends with a
# clear failure and its batch finished rather than mid-batch (`recordings.sweep.run_sweep`).
SWEEP_TIME_MARGIN_SECONDS = 120
# Enough ids in an alert to start investigating; the full list is `flask retention status`.
LOGGED_IDS = 20


def tick_for(moment: datetime, interval: timedelta) -> str:
    """The UTC start of the interval containing `moment`, as `20261123T1005`.

    Intervals are counted from the Unix epoch, so every scheduler computes the same tick for
    the same moment whatever time it started.
    """
    seconds = int(interval.total_seconds())
    if seconds <= 0:
        raise ValueError("the interval must be positive")
    epoch_seconds = int(moment.astimezone(UTC).timestamp())
    start = datetime.fromtimestamp(epoch_seconds - epoch_seconds % seconds, UTC)
    return start.strftime(TICK_FORMAT)


def enqueue_retention_sweep(job_queue: JobQueue, *, tick: str) -> Job | None:
    """Enqueue the sweep of `tick` unless a job for that tick exists already (then None)."""
    datetime.strptime(tick, TICK_FORMAT)  # refuses anything that is not a tick
    return enqueue_once_per_tick(
        job_queue.queue,
        retention_sweep_job,
        job_id_prefix=SWEEP_JOB_PREFIX,
        tick=tick,
        job_timeout=SWEEP_JOB_TIMEOUT_SECONDS,
        **job_queue.expiry,
    )


def _run_engine(step: Callable[..., R], **options: Any) -> R:
    """Run one retention-engine step as this job: its own database connection, the
    deployment's storage and policy, the current time and the job's id for receipts."""
    runtime = job_runtime()
    return step(
        job_database(runtime.settings),
        runtime.storage,
        now=utcnow(),
        policy=runtime.retention,
        job_id=current_job_id(),
        **options,
    )


def counts_of(report: Any) -> dict[str, int]:
    """A report dataclass as plain counts: numbers kept, collections replaced by their size.

    Reports may list recording ids; a job result only says how many, so Redis never holds
    more than it needs.
    """
    counts: dict[str, int] = {}
    for field in dataclasses.fields(report):
        value = getattr(report, field.name)
        if isinstance(value, bool):
            counts[field.name] = int(value)
        elif isinstance(value, int):
            counts[field.name] = value
        elif isinstance(value, Sized) and not isinstance(value, str):
            counts[field.name] = len(value)
    return counts


class PurgeIncomplete(RuntimeError):
    """A sweep finished, but some due recordings could not be purged (storage errors)."""


def retention_sweep_job(tick: str) -> dict[str, int]:
    """Purge every recording due now and end the holds that have run out, then remove the
    contacts past their time that nothing keeps (idempotent)."""
    runtime = job_runtime()
    # Count yesterday (and any day not yet counted) before anything behind it leaves.
    database = job_database(runtime.settings)
    days_counted = roll_up(database, now=utcnow())
    with database.unit_of_work() as session:
        notices_removed = remove_old_notices(session, now=utcnow())
    deadline = Deadline.after(SWEEP_JOB_TIMEOUT_SECONDS - SWEEP_TIME_MARGIN_SECONDS)
    report = _run_engine(run_sweep, deadline=deadline)
    contacts = sweep_customer_service_data(
        job_database(runtime.settings),
        build_registry(runtime),
        now=utcnow(),
        policy=runtime.contact_retention,
        audit_policy=runtime.audit_retention,
        job_id=current_job_id(),
    )
    result = counts_of(report) | {
        "contacts_removed": contacts.removed,
        "contacts_kept": contacts.kept,
        "customers_removed": contacts.customers_removed,
        "audit_events_removed": contacts.audit_events_removed,
        "days_counted": days_counted,
        "removal_notices_removed": notices_removed,
        "contact_batches_failed": contacts.failed,
    }
    log.info("retention sweep %s: %s", tick, _format_counts(result))
    if report.failed:
        # The rest of the sweep is done; failing the job now puts it in RQ's failed registry,
        # where an operator's alerting sees it. The next sweep retries those recordings.
        raise PurgeIncomplete(
            f"{report.failed} due recordings could not be purged in sweep {tick}; their ids"
            " are in the worker log, and the next sweep retries them"
        )
    return result


def reconciliation_job(tick: str | None = None) -> dict[str, int]:
    """Compare rows and stored files, and repair what is safe to repair."""
    report = _run_engine(reconcile, repair=True)
    result = counts_of(report)
    log.info("retention reconciliation %s: %s", tick or "-", _format_counts(result))
    return result


def invariant_check_job(tick: str | None = None) -> dict[str, int]:
    """Look for recordings kept past their due time or cap; log an ERROR if there are any.

    The ERROR line carries counts and internal row ids only: enough for an operator's alert
    and investigation, nothing about a person.
    """
    now = utcnow()
    runtime = job_runtime()
    settings = runtime.settings
    with job_database(settings).unit_of_work() as session:
        violations = check_invariants(
            session,
            now=now,
            policy=runtime.retention,
            sweep_interval=timedelta(minutes=settings.sweep_interval_minutes),
            log_errors=False,  # one ERROR line, written here with the job's tick
        )
    by_kind: dict[str, list[str]] = {}
    for violation in violations:
        by_kind.setdefault(violation.kind.lower(), []).append(violation.recording_public_id)
    if by_kind:
        log.error(
            "retention invariant violated at tick %s: %d recording(s) still stored; %s",
            tick or "-",
            len(violations),
            "; ".join(
                f"{kind}: {len(ids)} (first ids {', '.join(ids[:LOGGED_IDS])})"
                for kind, ids in sorted(by_kind.items())
            ),
        )
    return {"violations": len(violations), **{kind: len(ids) for kind, ids in by_kind.items()}}


def _format_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}={value}" for name, value in counts.items())


__all__ = [
    "enqueue_retention_sweep",
    "invariant_check_job",
    "reconciliation_job",
    "retention_sweep_job",
    "tick_for",
]
