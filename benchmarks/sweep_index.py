"""The cost of a sweep that finds nothing due among many stored recordings.

The sweep asks the database for recordings whose `due_at` has come, through the
`ix_recordings_state_due_at` index, so its cost should follow the number due (here: none),
not the number stored. This script:

1. builds a throw-away database (SQLite file, or a throw-away PostgreSQL cluster with
   `--db postgresql`) and bulk-inserts `--count` recordings (default 1,000,000), all due
   between one and three months from now,
2. prints the query plan of `find_recordings_due_for_purge`'s query,
3. times `find_recordings_due_for_purge` and a complete `run_sweep` (which also counts due
   rows and looks for expired holds) `--repeat` times each, and prints median and worst.

It is a measurement, not a test. Run it from the repository root:

    .venv/bin/python benchmarks/sweep_index.py
    .venv/bin/python benchmarks/sweep_index.py --db postgresql
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.purge_rate import bulk_insert, throwaway_database  # noqa: E402
from cs_register.db import Database, UTCDateTime  # noqa: E402
from recordings.retention import RetentionPolicy  # noqa: E402
from recordings.storage import LocalStorage  # noqa: E402
from recordings.sweep import find_recordings_due_for_purge, run_sweep  # noqa: E402


def timings(action: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds per call, after one warm-up call."""
    action()
    results = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        results.append((time.perf_counter() - started) * 1000)
    return results


def explain(database: Database, now: datetime) -> str:
    """The plan of the sweep's query, written out as `find_recordings_due_for_purge` builds it."""
    dialect = database.engine.dialect.name
    prefix = "EXPLAIN QUERY PLAN" if dialect == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS)"
    sweep_query = (
        " SELECT id FROM recordings WHERE state IN ('active', 'purging')"
        " AND due_at <= :now ORDER BY due_at, id LIMIT 200"
    )
    query = sa.text(prefix + sweep_query).bindparams(sa.bindparam("now", type_=UTCDateTime()))
    with database.engine.connect() as connection:
        rows = connection.execute(query, {"now": now})
        return "\n".join(" ".join(str(value) for value in row) for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    options = parser.parse_args()
    now = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="sweep-bench-") as scratch,
        throwaway_database(options.db, Path(scratch)) as database,
    ):
        started = time.perf_counter()
        bulk_insert(
            database,
            count=options.count,
            recorded_at=now - timedelta(days=30),
            due_at=now + timedelta(days=30),
            spread=timedelta(days=60),
        )
        with database.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
        print(
            f"database: {options.db}; inserted {options.count:,} recordings in"
            f" {time.perf_counter() - started:.0f} s, none due"
        )
        print("plan:\n" + explain(database, now))

        def find() -> object:
            with database.unit_of_work() as session:
                found = find_recordings_due_for_purge(session, now=now, limit=200)
            if found:
                raise SystemExit("the benchmark expects nothing due")
            return found

        storage = LocalStorage(Path(scratch) / "recordings")

        def sweep() -> object:
            report = run_sweep(database, storage, now=now, policy=RetentionPolicy())
            if report.purged:
                raise SystemExit("the benchmark expects nothing due")
            return report

        for name, action in (("find_recordings_due_for_purge", find), ("run_sweep", sweep)):
            results = timings(action, options.repeat)
            print(
                f"{name}: median {statistics.median(results):.2f} ms,"
                f" worst {max(results):.2f} ms over {options.repeat} runs"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
