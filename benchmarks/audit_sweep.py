"""Rate of the audit trail's retention sweep against a bare DELETE of the same rows.

For the requested number of audit events (default 1,000,000, of which 10% are past their five
years) this script:

1. builds a throw-away database from the models (SQLite file, or a database on a throw-away
   PostgreSQL cluster with `--db postgresql`), with the audit trail's delete guard;
2. bulk-inserts the events, the due tenth dated six years back and the rest last week;
3. times the sweep (`sweep_customer_service_data` with the audit policy): per batch of 5,000 a
   locked select, a SHA-256 over every column of the batch, one chained receipt appended,
   the delete (which the guard checks row by row against that receipt) and one audit row;
4. inserts the same rows again and times a bare `DELETE` of them in one transaction, once
   under one covering receipt (the guard still checks every row) and once with the guard
   dropped, in the same run.

It is a measurement, not a test; it prints numbers. Run it from the repository root:

    .venv/bin/python benchmarks/audit_sweep.py                        # SQLite, 1,000,000
    .venv/bin/python benchmarks/audit_sweep.py --db postgresql --count 200000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.contact_sweep import deployment_registry  # noqa: E402
from benchmarks.purge_rate import throwaway_database  # noqa: E402
from cs_register.append_only import drop_guard_statements  # noqa: E402
from cs_register.audit.retention import AuditRetention  # noqa: E402
from cs_register.contacts.retention import ContactRetention  # noqa: E402
from cs_register.db import Base, Database  # noqa: E402
from cs_register.personal_data import ErasureTally  # noqa: E402
from cs_register.privacy.data_retention import sweep_customer_service_data  # noqa: E402
from cs_register.privacy.erasure_receipts import append_retention_receipt  # noqa: E402

CHUNK = 20_000
# Seeded ids start here: the sweep's own audit rows take ids from the table's sequence (on
# PostgreSQL it starts at 1, untouched by inserts with explicit ids).
FIRST_ID = 10_000_001


def insert_events(database: Database, ids: range, occurred_at: datetime) -> None:
    events = Base.metadata.tables["audit_events"]
    for start in range(ids.start, ids.stop, CHUNK):
        chunk = range(start, min(start + CHUNK, ids.stop))
        with database.unit_of_work() as session:
            session.execute(
                sa.insert(events),
                [
                    {
                        "id": row_id,
                        "occurred_at": occurred_at,
                        "actor_label": "agent:bench",
                        "action": "customer_viewed",
                        "subject_type": "customer",
                        "subject_id": f"c-{row_id}",
                        "details": {},
                    }
                    for row_id in chunk
                ],
            )


def timed_delete(database: Database, due_count: int, *, under_receipt: datetime | None) -> float:
    events = Base.metadata.tables["audit_events"]
    started = time.perf_counter()
    with database.unit_of_work() as session:
        if under_receipt is not None:
            append_retention_receipt(
                session,
                category="audit_events",
                row_ids=[FIRST_ID, FIRST_ID + due_count - 1],
                rows_sha256="0" * 64,
                tally=ErasureTally(),
                due_before=under_receipt,
                swept_at=under_receipt,
                job_id="benchmark",
            )
        session.execute(
            sa.delete(events).where(events.c.id.between(FIRST_ID, FIRST_ID + due_count - 1))
        )
    return time.perf_counter() - started


def ids(first: int, last: int) -> range:
    return range(FIRST_ID + first - 1, FIRST_ID + last)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--count", type=int, default=1_000_000)
    options = parser.parse_args()
    now = datetime.now(UTC)
    old = now - timedelta(days=6 * 366)
    due_count = options.count // 10
    with tempfile.TemporaryDirectory(prefix="audit-sweep-bench-") as scratch:
        folder = Path(scratch)
        with throwaway_database(options.db, folder) as database:
            registry = deployment_registry(database, folder)
            seeded = time.perf_counter()
            insert_events(database, ids(1, due_count), old)
            insert_events(database, ids(due_count + 1, options.count), now)
            print(f"seeded {options.count} audit events in {time.perf_counter() - seeded:.1f} s")

            started = time.perf_counter()
            report = sweep_customer_service_data(
                database,
                registry,
                now=now,
                policy=ContactRetention(),
                audit_policy=AuditRetention(),
                job_id="benchmark",
            )
            sweep_seconds = time.perf_counter() - started
            if report.audit_events_removed != due_count:
                raise SystemExit(f"expected {due_count} removed: {report}")

            insert_events(database, ids(1, due_count), old)
            guarded_seconds = timed_delete(database, due_count, under_receipt=now)
            insert_events(database, ids(1, due_count), old)
            with database.engine.begin() as connection:
                for statement in drop_guard_statements("audit_events")[options.db]:
                    connection.execute(sa.text(statement))
            bare_seconds = timed_delete(database, due_count, under_receipt=None)
    sweep_rate = due_count / sweep_seconds
    guarded_rate = due_count / guarded_seconds
    bare_rate = due_count / bare_seconds
    print(f"database: {options.db}")
    print(
        f"sweep: {due_count} of {options.count} events removed with receipts in"
        f" {sweep_seconds:.1f} s = {sweep_rate:,.0f} events/s ({report.batches} batches)"
    )
    print(
        f"bare DELETE under one receipt (guard on): {guarded_seconds:.2f} s = {guarded_rate:,.0f}/s"
    )
    print(f"bare DELETE, guard dropped: {bare_seconds:.2f} s = {bare_rate:,.0f}/s")
    print(f"ratio (sweep / bare DELETE, guard dropped): 1 : {bare_rate / sweep_rate:,.1f}")
    print(f"ratio (sweep / bare DELETE, guard on): 1 : {guarded_rate / sweep_rate:,.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
