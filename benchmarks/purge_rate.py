"""Purge rate of the retention sweep, with receipts, against a bare loop of unlinks.

For the requested number of recordings (default 100,000) this script:

1. builds a throw-away database from the models (SQLite file, or a database on a throw-away
   PostgreSQL cluster with `--db postgresql`) and a local storage folder,
2. bulk-inserts that many due recordings (with their contacts and calls) and writes a small
   file for each (the purge never decodes audio, so file size does not matter to it),
3. times `recordings.sweep.run_sweep`: in batches of 200, a locked change to `purging`, the
   unlinks, then the tombstones, hash-chained receipts and audit rows (one per recording),
4. writes the same number of files again and times a bare `os.unlink` loop over them.

It is a measurement, not a test; it prints numbers. Run it from the repository root:

    .venv/bin/python benchmarks/purge_rate.py                       # SQLite, 100,000
    .venv/bin/python benchmarks/purge_rate.py --db postgresql --count 20000
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from cs_register import models  # noqa: E402,F401  (registers every table)
from cs_register.db import Base, Database  # noqa: E402
from recordings.models import Recording, RecordingState  # noqa: E402
from recordings.retention import RetentionPolicy  # noqa: E402
from recordings.storage import LocalStorage, new_key  # noqa: E402
from recordings.sweep import run_sweep  # noqa: E402

CHUNK = 5_000


@contextlib.contextmanager
def throwaway_database(kind: str, folder: Path) -> Iterator[Database]:
    """An empty database with every table, removed afterwards."""
    if kind == "sqlite":
        database = Database(f"sqlite:///{folder / 'bench.sqlite3'}")
        Base.metadata.create_all(database.engine)
        try:
            yield database
        finally:
            database.dispose()
        return
    from tests.support.postgres import throwaway_cluster

    with throwaway_cluster() as server_url:
        database = Database(server_url)
        Base.metadata.create_all(database.engine)
        try:
            yield database
        finally:
            database.dispose()


def bulk_insert(
    database: Database,
    *,
    count: int,
    recorded_at: datetime,
    due_at: datetime,
    storage: LocalStorage | None = None,
    spread: timedelta = timedelta(0),
) -> None:
    """Insert `count` recordings with contacts and calls, in chunks; files if `storage`.

    `spread` staggers `due_at` over that span so the index holds distinct values.
    """
    contacts_table = Base.metadata.tables["contacts"]
    calls_table = Base.metadata.tables["calls"]
    step = spread / count if count else timedelta(0)
    for start in range(1, count + 1, CHUNK):
        contacts, calls, recordings = [], [], []
        for row_id in range(start, min(start + CHUNK, count + 1)):
            key = new_key(".wav")
            body = f"RIFF-benchmark-{row_id}".encode()
            if storage is not None:
                path = storage.path_for(key)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(body)
            contacts.append(
                {
                    "id": row_id,
                    "public_id": f"c-{row_id}",
                    "channel": "phone",
                    "direction": "inbound",
                    "occurred_at": recorded_at,
                    "subject": "Phone call",
                    "notes": "",
                    "created_at": recorded_at,
                }
            )
            calls.append(
                {
                    "id": row_id,
                    "public_id": f"k-{row_id}",
                    "external_call_id": f"pbx-{row_id}",
                    "direction": "inbound",
                    "customer_number": "+358500000000",
                    "started_at": recorded_at,
                    "contact_id": row_id,
                    "created_at": recorded_at,
                }
            )
            recordings.append(
                {
                    "id": row_id,
                    "public_id": f"r-{row_id}",
                    "contact_id": row_id,
                    "state": RecordingState.ACTIVE,
                    "storage_key": key,
                    "sha256": hashlib.sha256(body).hexdigest(),
                    "size_bytes": len(body),
                    "content_type": "audio/wav",
                    "container": "wav",
                    "codec": "pcm_s16le",
                    "sample_rate": 8000,
                    "channels": 1,
                    "duration_seconds": 180.0,
                    "recorded_at": recorded_at,
                    "due_at": due_at + step * row_id,
                    "uploaded_at": recorded_at,
                }
            )
        with database.unit_of_work() as session:
            session.execute(sa.insert(contacts_table), contacts)
            session.execute(sa.insert(calls_table), calls)
            session.execute(sa.insert(Recording), recordings)


def bare_unlink_rate(folder: Path, count: int) -> float:
    """Files per second a plain loop unlinks, over the same fan-out of folders."""
    storage = LocalStorage(folder)
    paths = []
    for index in range(count):
        path = storage.path_for(new_key(".wav"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"RIFF-benchmark-{index}".encode())
        paths.append(path)
    started = time.perf_counter()
    for path in paths:
        os.unlink(path)
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--count", type=int, default=100_000)
    options = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="purge-bench-") as scratch:
        folder = Path(scratch)
        storage = LocalStorage(folder / "recordings")
        with throwaway_database(options.db, folder) as database:
            seeded = time.perf_counter()
            bulk_insert(
                database,
                count=options.count,
                storage=storage,
                recorded_at=now - timedelta(days=125),
                due_at=now - timedelta(days=30),
            )
            print(f"seeded {options.count} due recordings in {time.perf_counter() - seeded:.1f} s")
            started = time.perf_counter()
            report = run_sweep(
                database, storage, now=now, policy=RetentionPolicy(), job_id="benchmark"
            )
            elapsed = time.perf_counter() - started
            if report.purged != options.count:
                raise SystemExit(f"expected {options.count} purged: {report}")
            with database.unit_of_work() as session:
                receipts = session.scalar(sa.text("SELECT count(*) FROM purge_receipts"))
            if receipts != options.count:
                raise SystemExit(f"expected {options.count} receipts, found {receipts}")
        sweep_rate = options.count / elapsed
        unlink_rate = bare_unlink_rate(folder / "bare", options.count)
    print(f"database: {options.db}")
    print(
        f"sweep: {options.count} purged with receipts in {elapsed:.1f} s"
        f" = {sweep_rate:,.0f} recordings/s"
    )
    print(f"bare unlink loop: {unlink_rate:,.0f} files/s")
    print(f"ratio (sweep / bare unlink): 1 : {unlink_rate / sweep_rate:,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
