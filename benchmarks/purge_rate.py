"""Purge rate of the retention sweep, with receipts, against bare deletes of the same count.

For the requested number of recordings (default 100,000) this script:

1. builds a throw-away database from the models (SQLite file, or a database on a throw-away
   PostgreSQL cluster with `--db postgresql`) and the storage: a local folder, or with
   `--storage s3` a bucket on a SeaweedFS server started on loopback the way the tests start
   it (`tests.support.seaweedfs`), reached through `ObjectStorage` with the client settings
   the app uses, and sealed as the app does by default (`SealedStorage`),
2. bulk-inserts that many due recordings (with their contacts and calls) and stores a small
   object for each: a file written in place locally; through the storage's own `put` on S3,
   so every object is a real sealed object under the key its row names (the purge never
   decodes audio, so the size does not matter to it),
3. times `recordings.sweep.run_sweep`, the code the retention job runs: in batches of 200, a
   locked change to `purging`, the deletes, then the tombstones, hash-chained receipts and
   audit rows (one per recording),
4. times the bare baselines in the same run, over the same number of freshly stored objects:
   locally an `os.unlink` loop; on S3 `ObjectStorage.delete_many` (DeleteObjects, 1,000 keys a
   request) and a loop of `ObjectStorage.delete` (one per object, as the sweep calls it).

`--profile` runs the sweep under cProfile instead (its time is then the profiler's, not a
figure) and prints where it went. It is a measurement, not a test; it prints numbers. Run it
from the repository root:

    .venv/bin/python benchmarks/purge_rate.py                       # SQLite, 100,000
    .venv/bin/python benchmarks/purge_rate.py --db postgresql --count 20000
    .venv/bin/python benchmarks/purge_rate.py --storage s3 --count 10000
    .venv/bin/python benchmarks/purge_rate.py --storage s3 --count 5000 --profile
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from cs_register import models  # noqa: E402,F401  (registers every table)
from cs_register.db import Base, Database  # noqa: E402
from recordings.models import Recording, RecordingState  # noqa: E402
from recordings.retention import RetentionPolicy  # noqa: E402
from recordings.storage import LocalStorage, RecordingStorage, new_key  # noqa: E402
from recordings.sweep import run_sweep  # noqa: E402

CHUNK = 5_000
# Concurrent puts while seeding a bucket (not timed; the sweep and baselines run serially).
SEED_THREADS = 8
BUCKET = "purge-bench"


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
    store: Callable[[list[tuple[str, bytes]]], None] | None = None,
) -> None:
    """Insert `count` recordings with contacts and calls, in chunks; files if `storage`.

    `spread` staggers `due_at` over that span so the index holds distinct values. `store`,
    if given, is handed each chunk's (key, body) pairs before its rows are inserted.
    """
    contacts_table = Base.metadata.tables["contacts"]
    calls_table = Base.metadata.tables["calls"]
    step = spread / count if count else timedelta(0)
    for start in range(1, count + 1, CHUNK):
        contacts, calls, recordings = [], [], []
        objects: list[tuple[str, bytes]] = []
        for row_id in range(start, min(start + CHUNK, count + 1)):
            key = new_key(".wav")
            body = f"RIFF-benchmark-{row_id}".encode()
            if storage is not None:
                path = storage.path_for(key)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(body)
            objects.append((key, body))
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
        if store is not None:
            store(objects)
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


def store_objects(storage: RecordingStorage, objects: list[tuple[str, bytes]]) -> None:
    """Store each (key, body) through `storage.put`, as an upload is stored, a few at once."""

    def put(item: tuple[str, bytes]) -> None:
        key, body = item
        with storage.staged_upload() as staged:
            storage.receive(staged, [body], max_bytes=len(body))
            storage.put(key, staged)

    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(put, objects))


def seeded_keys(storage: RecordingStorage, count: int) -> list[str]:
    """`count` new objects stored through `storage`; returns their keys."""
    objects = [(new_key(".wav"), f"RIFF-benchmark-{index}".encode()) for index in range(count)]
    for first in range(0, count, CHUNK):
        store_objects(storage, objects[first : first + CHUNK])
    return [key for key, _ in objects]


def listed(storage: Any) -> int:
    return sum(1 for _ in storage.iter_keys())


@contextlib.contextmanager
def s3_storages(folder: Path) -> Iterator[Callable[[str], Any]]:
    """A SeaweedFS server on loopback with one bucket; yields a factory of `ObjectStorage`s,
    one per prefix, built with the app's client settings (`ObjectStorage.from_settings`)."""
    from cs_register.config import ObjectStoreSettings
    from recordings.object_storage import ObjectStorage
    from tests.support.seaweedfs import running_seaweedfs

    with running_seaweedfs(folder / "seaweedfs") as server:
        server.client().create_bucket(Bucket=BUCKET)

        def storage(prefix: str) -> ObjectStorage:
            settings = ObjectStoreSettings(
                bucket=BUCKET,
                prefix=prefix,
                endpoint_url=server.endpoint_url,
                region=server.region,
                access_key_id=server.access_key_id,
                secret_access_key=server.secret_access_key,
            )
            return ObjectStorage.from_settings(settings, scratch=folder / f"scratch-{prefix}")

        yield storage


def sealed(storage: RecordingStorage) -> RecordingStorage:
    """`storage` sealed as the app seals recordings by default (`RECORDING_ENCRYPTION=1`)."""
    from cs_register.crypto import Keyring
    from recordings.sealing import SealedStorage

    keyring = Keyring(encryption_key=os.urandom(32), index_key=os.urandom(32))
    return SealedStorage(storage, keyring.audio)


def print_profile(profiler: cProfile.Profile, elapsed: float, count: int) -> None:
    """Where the profiled sweep's time went: chosen functions' cumulative time, then the
    largest by cumulative and by internal time."""
    stats = pstats.Stats(profiler)
    print(f"\nprofiled sweep: {elapsed:.1f} s under cProfile for {count} recordings")
    watched = {
        ("object_storage.py", "delete"): "ObjectStorage.delete (HEAD + DELETE per object)",
        ("object_storage.py", "exists"): "  of which ObjectStorage.exists (the HEAD)",
        ("object_storage.py", "_head"): "  ObjectStorage._head",
        ("purge.py", "claim_for_purge"): "claim_for_purge (transaction 1, body)",
        ("purge.py", "finish_purge"): "finish_purge (transaction 2, body)",
        ("session.py", "commit"): "Session.commit (every commit)",
        ("sweep.py", "find_recordings_due_for_purge"): "find_recordings_due_for_purge",
        ("sweep.py", "end_expired_holds"): "end_expired_holds",
    }
    totals: dict[str, float] = {}
    calls: dict[str, int] = {}
    for (filename, _line, function), (_cc, ncalls, _tt, cumulative, _callers) in (
        stats.stats.items()  # type: ignore[attr-defined]
    ):
        label = watched.get((Path(filename).name, function))
        if label is not None:
            totals[label] = totals.get(label, 0.0) + cumulative
            calls[label] = calls.get(label, 0) + ncalls
    for label in watched.values():
        if label in totals:
            share = 100 * totals[label] / elapsed
            print(f"  {label}: {totals[label]:.2f} s ({share:.0f} %), {calls[label]} calls")
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)


def timed_sweep(
    database: Database, storage: RecordingStorage, *, now: datetime, count: int, profile: bool
) -> float:
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    report = run_sweep(database, storage, now=now, policy=RetentionPolicy(), job_id="benchmark")
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - started
    if report.purged != count:
        raise SystemExit(f"expected {count} purged: {report}")
    with database.unit_of_work() as session:
        receipts = session.scalar(sa.text("SELECT count(*) FROM purge_receipts"))
    if receipts != count:
        raise SystemExit(f"expected {count} receipts, found {receipts}")
    if profiler is not None:
        print_profile(profiler, elapsed, count)
    return elapsed


def run_local(options: argparse.Namespace, folder: Path, now: datetime) -> None:
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
        print(f"load average before the sweep: {os.getloadavg()[0]:.2f}")
        elapsed = timed_sweep(
            database, storage, now=now, count=options.count, profile=options.profile
        )
    sweep_rate = options.count / elapsed
    unlink_rate = bare_unlink_rate(folder / "bare", options.count)
    print(f"load average after the baseline: {os.getloadavg()[0]:.2f}")
    print(f"database: {options.db}, storage: local")
    print(
        f"sweep: {options.count} purged with receipts in {elapsed:.1f} s"
        f" = {sweep_rate:,.0f} recordings/s"
    )
    print(f"bare unlink loop: {unlink_rate:,.0f} files/s")
    print(f"ratio (sweep / bare unlink): 1 : {unlink_rate / sweep_rate:,.0f}")


def run_s3(options: argparse.Namespace, folder: Path, now: datetime) -> None:
    count = options.count
    with s3_storages(folder) as object_storage, throwaway_database(options.db, folder) as db:
        swept_bucket = object_storage("sweep")
        storage = sealed(swept_bucket)
        seeded = time.perf_counter()
        bulk_insert(
            db,
            count=count,
            store=lambda objects: store_objects(storage, objects),
            recorded_at=now - timedelta(days=125),
            due_at=now - timedelta(days=30),
        )
        stored = listed(swept_bucket)
        print(
            f"seeded {count} due recordings, {stored} sealed objects in the bucket,"
            f" in {time.perf_counter() - seeded:.1f} s"
        )
        if stored != count:
            raise SystemExit(f"expected {count} objects in the bucket, found {stored}")
        print(f"load average before the sweep: {os.getloadavg()[0]:.2f}")
        elapsed = timed_sweep(db, storage, now=now, count=count, profile=options.profile)
        left = listed(swept_bucket)
        if left:
            raise SystemExit(f"the sweep left {left} objects in the bucket")
        if options.profile:
            return

        batched_bucket = object_storage("bare-batched")
        keys = seeded_keys(sealed(batched_bucket), count)
        print(f"load average before the batched baseline: {os.getloadavg()[0]:.2f}")
        started = time.perf_counter()
        gone = batched_bucket.delete_many(keys)
        batched = time.perf_counter() - started
        if len(gone) != count or listed(batched_bucket):
            raise SystemExit(f"delete_many removed {len(gone)} of {count}")

        single_bucket = object_storage("bare-single")
        keys = seeded_keys(sealed(single_bucket), count)
        print(f"load average before the per-object baseline: {os.getloadavg()[0]:.2f}")
        started = time.perf_counter()
        for key in keys:
            single_bucket.delete(key)
        single = time.perf_counter() - started
        if listed(single_bucket):
            raise SystemExit("the per-object loop left objects behind")
        print(f"load average after the baselines: {os.getloadavg()[0]:.2f}")
    sweep_rate, batched_rate, single_rate = count / elapsed, count / batched, count / single
    print(f"database: {options.db}, storage: s3 (SeaweedFS on loopback), objects sealed")
    print(
        f"sweep: {count} purged with receipts in {elapsed:.1f} s = {sweep_rate:,.0f} recordings/s"
    )
    print(
        f"bare delete_many, 1,000 keys a request: {batched:.2f} s = {batched_rate:,.0f} objects/s"
    )
    print(f"bare delete, one per object: {single:.1f} s = {single_rate:,.0f} objects/s")
    print(f"ratio (sweep / bare delete_many): 1 : {batched_rate / sweep_rate:,.1f}")
    print(f"ratio (sweep / bare per-object delete): 1 : {single_rate / sweep_rate:,.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--storage", choices=("local", "s3"), default="local")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument(
        "--profile", action="store_true", help="run the sweep under cProfile (no baselines)"
    )
    options = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="purge-bench-") as scratch:
        if options.storage == "s3":
            run_s3(options, Path(scratch), now)
        else:
            run_local(options, Path(scratch), now)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
