"""Helpers for tests that store and read recordings through any backend: a payload with every
byte value, storing and reading it, the staging folder's files, and a backend-neutral way to
read what a key holds (instead of a local file path)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from recordings.object_storage import ObjectStorage
from recordings.storage import LocalStorage, RecordingStorage, new_key
from tests.support.seaweedfs import S3Server, empty_prefix

PAYLOAD = bytes(range(256)) * 1000  # 256,000 bytes: several read chunks, every byte value
BACKENDS = ("local", "s3")

_prefixes = itertools.count()


def store(storage: RecordingStorage, payload: bytes = PAYLOAD, *, suffix: str = "") -> str:
    key = new_key(suffix)
    with storage.staged_upload() as staged:
        storage.receive(staged, [payload], max_bytes=len(payload))
        storage.put(key, staged)
    return key


def read_all(storage: RecordingStorage, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(storage.open(key, start, end))


def staging_folder(storage: Any) -> Path:
    """Where a backend stages uploads (both keep a local, private staging folder); through a
    wrapper (`SealedStorage`), its inner backend's."""
    backend = getattr(storage, "inner", storage)
    assert isinstance(backend, LocalStorage | ObjectStorage)
    return backend.staging_path


def staging_files(storage: RecordingStorage) -> list[Path]:
    staging = staging_folder(storage)
    return sorted(staging.iterdir()) if staging.exists() else []


def object_storage(server: S3Server, bucket: str, scratch: Path) -> Iterator[ObjectStorage]:
    """An ObjectStorage on a fresh prefix of `bucket`, emptied afterwards."""
    prefix = f"contract-{next(_prefixes)}"
    client = server.client()
    yield ObjectStorage(client, bucket=bucket, prefix=prefix, scratch=scratch)
    empty_prefix(client, bucket, prefix + "/")
