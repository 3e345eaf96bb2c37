"""What a job needs from the application, built lazily inside the job process.

Nothing happens at import: the worker imports entry points before it knows which job it runs,
and the web app imports this package only to enqueue. Settings are read from the environment
each time a job starts (cheap, and picks up the job process's own environment); the database
engine is cached per process and URL, so a long-lived worker reuses its connection pool.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rq import get_current_job
from sqlalchemy.orm import Session

from cs_register import logs

# Every table on the metadata: a job's ORM work (a purge flushing a recording, say) resolves
# foreign keys to tables its own imports would not otherwise load.
from cs_register import models as _all_models  # noqa: F401
from cs_register.config import Settings
from cs_register.db import Database
from cs_register.runtime import Runtime, build_runtime
from cs_register.staff.sessions import SessionPolicy

PROJECT_ROOT = Path(__file__).resolve().parent.parent

_databases: dict[str, Database] = {}
_lock = threading.Lock()


def job_settings() -> Settings:
    """Settings from this process's environment (instance folder: repo/instance by default).

    Also puts the redacting log handler in place, once per process: what a job logs must pass
    the same personal-data filter as the web app's logs.
    """
    logs.configure_logging()
    return Settings.from_env(instance_path=PROJECT_ROOT / "instance")


def job_database(settings: Settings | None = None) -> Database:
    """The database of `settings` (default: from the environment), one per process and URL."""
    url = (settings or job_settings()).database_url
    with _lock:
        database = _databases.get(url)
        if database is None:
            database = _databases[url] = Database(url)
        return database


@contextmanager
def unit_of_work(settings: Settings | None = None) -> Iterator[Session]:
    """A session that commits once when the job's work succeeded, else rolls back."""
    with job_database(settings).unit_of_work() as session:
        yield session


def job_runtime(settings: Settings | None = None) -> Runtime:
    """The deployment's shared objects (storage, retention policy, session rules, keyring),
    built by the same function as the web app's (`cs_register.runtime`)."""
    return build_runtime(settings or job_settings())


def session_policy(settings: Settings) -> SessionPolicy:
    """The staff session rules of this deployment (the same ones the web console enforces)."""
    return job_runtime(settings).sessions


def dispose_job_databases() -> None:
    """Close every cached engine (tests, and a worker shutting down)."""
    with _lock:
        for database in _databases.values():
            database.dispose()
        _databases.clear()


def current_job_id() -> str | None:
    """The RQ job this code runs in, for the audit rows it writes; None outside a worker."""
    job = get_current_job()
    return job.id if job is not None else None
