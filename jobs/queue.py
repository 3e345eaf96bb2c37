"""Redis connection, the job queue, and enqueue helpers.

The queue uses RQ's JSON serializer: a pickled payload would let anyone who can write to Redis
run code in the worker, and JSON keeps payloads readable, so "no personal data in Redis" can
be checked by looking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from cs_register.config import Settings

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
            entry_point,
            args=args,
            job_id=job_id,
            job_timeout=job_timeout,
            result_ttl=self.result_ttl,
            failure_ttl=self.failure_ttl,
        )


def enqueue_purge_expired_staff_sessions(job_queue: JobQueue) -> Job:
    """Ask a worker to delete staff sessions that can never be used again."""
    from jobs.maintenance import purge_expired_staff_sessions_job

    return job_queue.enqueue(purge_expired_staff_sessions_job)
