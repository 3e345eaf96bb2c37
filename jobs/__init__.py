"""Background jobs run by RQ workers, in three layers.

1. `jobs.queue`: plumbing. The Redis connection and the queue (JSON serializer, short result
   and failure TTLs), and helpers that enqueue a job by its entry point with plain arguments.
2. `jobs.context`: the job's world. Settings and the database are built lazily inside the job
   process from its environment, never at import time, so importing a job module (the worker,
   the cron scheduler, the web app enqueueing) has no side effects.
3. Entry points (`jobs.maintenance`, ...): small functions taking ids and plain values only,
   which open their own unit of work, call the same domain services the web console uses, and
   return a small JSON-able summary. Payloads and results never carry personal data: they sit
   in Redis, outside the database's access control and retention.

`jobs.cron_config` lists the periodic jobs for the scheduler started by `jobs.cron`.
"""
