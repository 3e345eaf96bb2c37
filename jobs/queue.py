"""Redis connection, the job queue, and enqueue helpers.

The queue uses RQ's JSON serializer: a pickled payload would let anyone who can write to Redis
run code in the worker, and JSON keeps payloads readable, so "no personal data in Redis" can
be checked by looking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from redis import Redis
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from cs_register.config import Settings

log = logging.getLogger(__name__)

QUEUE_NAME = "cs-register"

# What a job may be given: ids, counts, flags and names of things, never objects.
PlainValue = str | int | float | bool | None


def redis_connection(url: str) -> Redis:
    """A client for `url` (redis://, rediss:// or unix://)."""
    return Redis.from_url(url)


def get_queue(connection: Redis, settings: Settings, *, name: str = QUEUE_NAME) -> JobQueue:
    """The application's queue on `connection`, with the TTLs from `settings`."""
    return JobQueue(
        queue=Queue(name, connection=connection, serializer=JSONSerializer),
        result_ttl=settings.rq_result_ttl_seconds,
        failure_ttl=settings.rq_failure_ttl_seconds,
    )


@dataclass(frozen=True)
class JobQueue:
    """An RQ queue plus the retention rules for what jobs leave behind in Redis."""

    queue: Queue
    result_ttl: int
    failure_ttl: int

    def enqueue(
        self,
        entry_point: Callable[..., Any],
        *args: PlainValue,
        job_id: str | None = None,
        job_timeout: int | None = None,
    ) -> Job:
        """Enqueue `entry_point(*args)`; results and failures expire after the short TTLs."""
        for value in args:
            if not isinstance(value, PlainValue):
                raise TypeError("job arguments must be plain values (ids, numbers, flags)")
        return self.queue.enqueue(
            entry_point, args=args, job_id=job_id, job_timeout=job_timeout, **self.expiry
        )

    @property
    def expiry(self) -> dict[str, Any]:
        """How long a job's result and failure stay in Redis, as RQ's enqueue options."""
        return {"result_ttl": self.result_ttl, "failure_ttl": self.failure_ttl}


@dataclass(frozen=True)
class RecordJob:
    """A job about one record (an export, an erasure, a key rotation), asked for "now".

    Enqueued as `entry_point(public_id)` with the id `<prefix>-<public_id>`: the job's id names
    the record it works on by its public id only, so an operator can find it in RQ without
    personal data ever reaching Redis. The periodic run finds the record in the database
    anyway, so a lost enqueue only waits for the next tick.
    """

    entry_point: Callable[[str], Any]
    job_id_prefix: str
    job_timeout: int

    def enqueue(self, job_queue: JobQueue, public_id: str) -> Job:
        return job_queue.enqueue(
            self.entry_point,
            public_id,
            job_id=f"{self.job_id_prefix}-{public_id}",
            job_timeout=self.job_timeout,
        )


def enqueue_once_per_tick(
    queue: Queue,
    entry_point: Callable[..., Any],
    *,
    job_id_prefix: str,
    tick: str,
    args: tuple[PlainValue, ...] = (),
    **options: Any,
) -> Job | None:
    """Enqueue `entry_point(*args, tick)` as the one job `<prefix>-<tick>`, or nothing.

    The one path for periodic jobs, used by the cron runner and by operators alike. Returns
    None when a job for the tick exists already (another scheduler, a retry, an operator):
    that is the point of the per-tick id, not an error.
    """
    job_id = f"{job_id_prefix}-{tick}"
    try:
        return queue.enqueue(entry_point, args=(*args, tick), job_id=job_id, unique=True, **options)
    except DuplicateJobError:
        log.info("%s is already enqueued", job_id)
        return None


def enqueue_purge_expired_staff_sessions(job_queue: JobQueue) -> Job:
    """Ask a worker to delete staff sessions that can never be used again."""
    from jobs.maintenance import purge_expired_staff_sessions_job

    return job_queue.enqueue(purge_expired_staff_sessions_job)


def queue_metrics(job_queue: JobQueue) -> list[Metric]:
    """The job queue for `/metrics`: jobs waiting and jobs failed (kept for the failure TTL)."""
    queue = job_queue.queue
    return [
        GaugeMetricFamily(
            "cs_register_queue_jobs", "Jobs waiting in the queue.", value=queue.count
        ),
        GaugeMetricFamily(
            "cs_register_failed_jobs",
            "Jobs that failed and are kept for inspection.",
            value=queue.failed_job_registry.count,
        ),
    ]
