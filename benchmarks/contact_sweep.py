"""Rate of the contacts' retention sweep against a bare DELETE of the same rows.

For the requested number of contacts (default 1,000,000, of which 10% are past their 180
days) this script:

1. builds a throw-away database from the models (SQLite file, or a database on a throw-away
   PostgreSQL cluster with `--db postgresql`),
2. bulk-inserts the contacts, each with its call row (the caller's number), the due tenth
   dated 200 days back and the rest last week,
3. times `cs_register.privacy.data_retention.sweep_customer_service_data` through the deployment's
   personal-data registry: per batch of 500 a locked select, the keepers' questions, each
   source's deletes, one chained receipt and one audit row,
4. inserts the same due rows again and times a bare `DELETE` of their calls and contacts, in
   one transaction, in the same run.

It is a measurement, not a test; it prints numbers. Run it from the repository root:

    .venv/bin/python benchmarks/contact_sweep.py                        # SQLite, 1,000,000
    .venv/bin/python benchmarks/contact_sweep.py --db postgresql --count 200000
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

from benchmarks.purge_rate import throwaway_database  # noqa: E402
from cs_register.config import Settings, generate_key  # noqa: E402
from cs_register.contacts.retention import ContactRetention  # noqa: E402
from cs_register.db import Base, Database  # noqa: E402
from cs_register.personal_data import PersonalDataRegistry  # noqa: E402
from cs_register.privacy.data_retention import sweep_customer_service_data  # noqa: E402
from cs_register.runtime import build_runtime  # noqa: E402
from cs_register.sources import build_registry  # noqa: E402

CHUNK = 10_000


def insert_contacts(database: Database, ids: range, occurred_at: datetime) -> None:
    contacts = Base.metadata.tables["contacts"]
    calls = Base.metadata.tables["calls"]
    for start in range(ids.start, ids.stop, CHUNK):
        chunk = range(start, min(start + CHUNK, ids.stop))
        with database.unit_of_work() as session:
            session.execute(
                sa.insert(contacts),
                [
                    {
                        "id": row_id,
                        "public_id": f"c-{row_id}",
                        "channel": "phone",
                        "direction": "inbound",
                        "occurred_at": occurred_at,
                        "subject": "Phone call",
                        "notes": "",
                        "created_at": occurred_at,
                    }
                    for row_id in chunk
                ],
            )
            session.execute(
                sa.insert(calls),
                [
                    {
                        "id": row_id,
                        "public_id": f"k-{row_id}",
                        "external_call_id": f"pbx-{row_id}",
                        "direction": "inbound",
                        "customer_number": "+358500000000",
                        "started_at": occurred_at,
                        "contact_id": row_id,
                        "created_at": occurred_at,
                    }
                    for row_id in chunk
                ],
            )


def deployment_registry(database: Database, folder: Path) -> PersonalDataRegistry:
    """The personal-data registry a deployment on `database` would build."""
    settings = Settings.from_env(
        {
            "DATABASE_URL": str(database.engine.url),
            "SECRET_KEY": generate_key(),
            "DATA_ENCRYPTION_KEY": generate_key(),
            "BLIND_INDEX_KEY": generate_key(),
        },
        instance_path=folder / "instance",
    )
    return build_registry(build_runtime(settings))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--count", type=int, default=1_000_000)
    options = parser.parse_args()
    now = datetime.now(UTC)
    due_count = options.count // 10
    with tempfile.TemporaryDirectory(prefix="contact-sweep-bench-") as scratch:
        folder = Path(scratch)
        with throwaway_database(options.db, folder) as database:
            registry = deployment_registry(database, folder)
            seeded = time.perf_counter()
            insert_contacts(database, range(1, due_count + 1), now - timedelta(days=200))
            insert_contacts(
                database, range(due_count + 1, options.count + 1), now - timedelta(days=7)
            )
            print(f"seeded {options.count} contacts in {time.perf_counter() - seeded:.1f} s")

            started = time.perf_counter()
            report = sweep_customer_service_data(
                database, registry, now=now, policy=ContactRetention(), job_id="benchmark"
            )
            sweep_seconds = time.perf_counter() - started
            if report.removed != due_count:
                raise SystemExit(f"expected {due_count} removed: {report}")

            insert_contacts(database, range(1, due_count + 1), now - timedelta(days=200))
            contacts = Base.metadata.tables["contacts"]
            calls = Base.metadata.tables["calls"]
            started = time.perf_counter()
            with database.unit_of_work() as session:
                session.execute(sa.delete(calls).where(calls.c.contact_id <= due_count))
                session.execute(sa.delete(contacts).where(contacts.c.id <= due_count))
            delete_seconds = time.perf_counter() - started
    sweep_rate = due_count / sweep_seconds
    delete_rate = due_count / delete_seconds
    print(f"database: {options.db}")
    print(
        f"sweep: {due_count} of {options.count} contacts removed with receipts in"
        f" {sweep_seconds:.1f} s = {sweep_rate:,.0f} contacts/s ({report.batches} batches)"
    )
    print(f"bare DELETE of the same rows: {delete_seconds:.2f} s = {delete_rate:,.0f} contacts/s")
    print(f"ratio (sweep / bare DELETE): 1 : {delete_rate / sweep_rate:,.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
