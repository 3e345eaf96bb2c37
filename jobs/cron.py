"""The periodic-job scheduler: `python -m jobs.cron --url REDIS_URL`.

RQ 3.0's own `rq cron` command enqueues every cron job with the pickle serializer, whatever
`--serializer` says, so our JSON-only worker would fail each tick with a DeserializationError.
This runner is RQ's CronScheduler with one change: jobs are enqueued on the JSON queue. The
schedule itself stays a standard RQ cron config file (`jobs/cron_config.py`, `rq.cron.register`).

One addition: a cron job registered with `meta=per_tick("retention-sweep")` is enqueued with a
fixed job id per tick (`retention-sweep-20261123T1005`, the UTC start of the current interval)
and `unique=True`, and gets the tick as its last argument. A second scheduler, or a restarted
one, asking for the same tick finds the job already there and enqueues nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from redis import Redis
from rq import Queue, cron_job_registry
from rq.cron import CronJob, CronScheduler
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.utils import now as rq_now

from jobs.queue import enqueue_once_per_tick, redis_connection
from jobs.retention import tick_for

DEFAULT_CONFIG = "jobs.cron_config"
# The key in a cron job's `meta` that asks for a job id per tick; removed before enqueueing.
PER_TICK_META_KEY = "cs_register_job_id_prefix"

log = logging.getLogger(__name__)


def per_tick(job_id_prefix: str) -> dict[str, Any]:
    """`meta` for `cron.register` (whose options are fixed) asking for one job per tick."""
    return {PER_TICK_META_KEY: job_id_prefix}


class JSONCronJob(CronJob):
    """A cron job that is enqueued with the JSON serializer."""

    def enqueue(self, connection: Redis) -> Job:
        if self.func is None:
            raise ValueError(f"cron job {self.name} has no function to enqueue")
        queue = Queue(self.queue_name, connection=connection, serializer=JSONSerializer)
        options = dict(self.job_options)
        meta = dict(options.pop("meta", None) or {})
        prefix = meta.pop(PER_TICK_META_KEY, None)
        if meta:
            options["meta"] = meta
        if prefix is None:
            job = queue.enqueue(self.func, args=self.args, kwargs=self.kwargs, **options)
        else:
            if not self.interval:
                raise ValueError(f"cron job {self.name}: a job id per tick needs an interval")
            tick = tick_for(rq_now(), timedelta(seconds=self.interval))
            new_job = enqueue_once_per_tick(
                queue,
                self.func,
                job_id_prefix=prefix,
                tick=tick,
                args=self.args,
                kwargs=self.kwargs,
                **options,
            )
            if new_job is None:
                # Another scheduler (or this one before a restart) already enqueued this tick.
                job_id = f"{prefix}-{tick}"
                return Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
            job = new_job
        # Lets `rq info` and dashboards list the cron job by name.
        enqueued_at = job.enqueued_at.timestamp() if job.enqueued_at else None
        cron_job_registry.add(self.name, connection, enqueue_timestamp=enqueued_at)
        return job


class JSONCronScheduler(CronScheduler):
    """RQ's cron scheduler, creating `JSONCronJob`s for the jobs in its config file."""

    def register(self, *args: Any, **kwargs: Any) -> CronJob:
        # load_config_from_file() passes everything by keyword; CronJob takes the same names.
        if args:
            raise TypeError("register cron jobs with keyword arguments")
        cron_job = JSONCronJob(**kwargs)
        self._cron_jobs.append(cron_job)
        return cron_job


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.cron", description="Enqueue cs-register's periodic jobs."
    )
    parser.add_argument("--url", help="Redis URL (default: $REDIS_URL)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="cron config module or file")
    options = parser.parse_args(argv)
    url = options.url or os.environ.get("REDIS_URL")
    if not url:
        parser.error("no Redis URL: pass --url or set REDIS_URL")
    scheduler = JSONCronScheduler(connection=redis_connection(url))
    scheduler.load_config_from_file(options.config)
    # Runs until SIGINT/SIGTERM; RQ's handlers turn either into a clean stop.
    scheduler.start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
