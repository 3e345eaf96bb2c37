"""Local recording storage: keys, atomic writes, limits, ranges, permissions, containment."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recordings import storage as storage_module
from recordings.storage import (
    CHUNK_BYTES,
    InvalidKey,
    LocalStorage,
    StagedUpload,
    StorageError,
    UploadTooLarge,
    new_key,
    validate_key,
)

PAYLOAD = bytes(range(256)) * 1000  # 256,000 bytes: several read chunks, every byte value


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "recordings")


def store(storage: LocalStorage, payload: bytes = PAYLOAD, *, suffix: str = "") -> str:
    key = new_key(suffix)
    with storage.staged_upload() as staged:
        storage.receive(staged, [payload], max_bytes=len(payload))
        storage.put(key, staged)
    return key


def read_all(storage: LocalStorage, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(storage.open(key, start, end))


def staging_files(storage: LocalStorage) -> list[Path]:
    staging = storage.root / ".staging"
    return sorted(staging.iterdir()) if staging.exists() else []


# --- Keys ---------------------------------------------------------------------------------------


def test_new_keys_are_random_hex_with_a_fan_out_folder() -> None:
    keys = {new_key() for _ in range(200)}

    assert len(keys) == 200
    for key in keys:
        assert re.fullmatch(r"([0-9a-f]{2})/\1[0-9a-f]{30}", key)
        assert validate_key(key) == key


def test_new_key_keeps_a_suffix() -> None:
    key = new_key(".mp3")

    assert key.endswith(".mp3")
    assert validate_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../x",
        "ab/../../etc/passwd",
        "/etc/passwd",
        "/ab/" + "a" * 32,
        "..%2f..%2fetc%2fpasswd",
        "ab%2f" + "a" * 32,
        "AB/" + "A" * 32,
        "ab/" + "A" * 32,
        "ab/" + "a" * 31,
        "ab/" + "a" * 33,
        "ab/" + "g" * 32,
        "ab\\" + "a" * 32,
        "ab/" + "a" * 32 + "\n",
        "ab/" + "a" * 32 + "/",
        "ab/" + "a" * 32 + ".MP3",
        "ab/" + "a" * 32 + ".toolongsuffix",
        "ab/cd/" + "a" * 32,
        "ab/" + "a" * 32 + "\x00",
    ],
)
def test_validate_key_refuses_anything_not_generated(key: str, storage: LocalStorage) -> None:
    with pytest.raises(InvalidKey):
        validate_key(key)
    # Every entry point refuses it before touching the file system.
    with pytest.raises(InvalidKey):
        storage.path_for(key)
    with pytest.raises(InvalidKey):
        storage.exists(key)
    with pytest.raises(InvalidKey):
        storage.delete(key)
    with pytest.raises(InvalidKey):
        storage.open(key)
    with pytest.raises(InvalidKey), storage.staged_upload() as staged:
        storage.put(key, staged)
    assert not storage.root.exists() or list(storage.root.glob("??")) == []


# --- Staging and put ----------------------------------------------------------------------------


def test_put_stores_the_exact_bytes_and_consumes_the_staged_file(storage: LocalStorage) -> None:
    key = new_key()
    with storage.staged_upload() as staged:
        storage.receive(staged, [PAYLOAD[:1000], b"", PAYLOAD[1000:]], max_bytes=10**9)
        staged_path = staged.path
        assert not storage.exists(key)

        storage.put(key, staged)

        assert not staged_path.exists()
        assert storage.exists(key)

    assert read_all(storage, key) == PAYLOAD
    assert storage.size(key) == len(PAYLOAD)
    assert storage.path_for(key) == storage.root / key
    assert staging_files(storage) == []


def test_put_never_exposes_a_half_written_object(
    storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The object appears in one rename, complete; before that there is nothing at its path."""
    key = new_key()
    target = storage.root / key
    seen_at_rename: list[tuple[bool, int]] = []
    real_replace = os.replace

    def watching_replace(source: os.PathLike[str] | str, destination: Path) -> None:
        # The staged file is complete and the target does not exist yet, right up to the rename.
        seen_at_rename.append((Path(destination).exists(), Path(source).stat().st_size))
        real_replace(source, destination)

    monkeypatch.setattr(storage_module.os, "replace", watching_replace)
    with storage.staged_upload() as staged:
        storage.receive(staged, [PAYLOAD], max_bytes=len(PAYLOAD))
        storage.put(key, staged)

    assert seen_at_rename == [(False, len(PAYLOAD))]
    assert target.read_bytes() == PAYLOAD
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_a_failed_rename_leaves_neither_object_nor_staged_file(
    storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key()

    def failing_replace(source: object, destination: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(storage_module.os, "replace", failing_replace)
    with storage.staged_upload() as staged:
        storage.receive(staged, [PAYLOAD], max_bytes=len(PAYLOAD))
        with pytest.raises(OSError, match="disk full"):
            storage.put(key, staged)

    assert not storage.exists(key)
    assert staging_files(storage) == []


def test_a_failure_while_staging_leaves_nothing_behind(storage: LocalStorage) -> None:
    class PbxHungUp(Exception):
        pass

    def chunks() -> Iterator[bytes]:
        yield PAYLOAD[:CHUNK_BYTES]
        raise PbxHungUp

    with pytest.raises(PbxHungUp), storage.staged_upload() as staged:
        storage.receive(staged, chunks(), max_bytes=len(PAYLOAD))

    assert staging_files(storage) == []
    assert list(storage.iter_keys()) == []


def test_an_unused_staged_upload_is_removed(storage: LocalStorage) -> None:
    with storage.staged_upload() as staged:
        assert staged.path.parent == storage.root / ".staging"
        assert staged.path.exists()

    assert staging_files(storage) == []


def test_concurrent_staged_uploads_get_separate_files(storage: LocalStorage) -> None:
    with storage.staged_upload() as first, storage.staged_upload() as second:
        storage.receive(first, [b"first"], max_bytes=100)
        storage.receive(second, [b"second"], max_bytes=100)
        assert first.path != second.path
        assert first.path.read_bytes() == b"first"
        assert second.path.read_bytes() == b"second"


# --- Receive: size limit and digest -------------------------------------------------------------


def test_receive_accepts_exactly_the_limit_and_computes_digest(storage: LocalStorage) -> None:
    chunks = [PAYLOAD[i : i + 7777] for i in range(0, len(PAYLOAD), 7777)]
    with storage.staged_upload() as staged:
        storage.receive(staged, chunks, max_bytes=len(PAYLOAD))

        assert staged.size == len(PAYLOAD)
        assert staged.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
        assert staged.path.read_bytes() == PAYLOAD


def test_receive_refuses_one_byte_over_the_limit(storage: LocalStorage) -> None:
    with pytest.raises(UploadTooLarge) as too_large, storage.staged_upload() as staged:
        storage.receive(staged, [PAYLOAD, b"x"], max_bytes=len(PAYLOAD))

    assert too_large.value.limit == len(PAYLOAD)
    assert staging_files(storage) == []


def test_receive_stops_reading_once_over_the_limit(storage: LocalStorage) -> None:
    consumed: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            consumed.append(CHUNK_BYTES)
            yield b"\0" * CHUNK_BYTES

    with pytest.raises(UploadTooLarge), storage.staged_upload() as staged:
        storage.receive(staged, endless(), max_bytes=3 * CHUNK_BYTES)

    # Three chunks fit; the fourth crosses the limit and nothing more is read.
    assert len(consumed) == 4


def test_digest_of_an_empty_upload(storage: LocalStorage) -> None:
    with storage.staged_upload() as staged:
        storage.receive(staged, [], max_bytes=10)

        assert staged.size == 0
        assert staged.sha256 == hashlib.sha256(b"").hexdigest()


def test_staged_upload_digest_is_per_upload() -> None:
    first, second = StagedUpload(Path("a")), StagedUpload(Path("b"))
    first._digest.update(b"data")

    assert second.sha256 == hashlib.sha256(b"").hexdigest()


# --- Reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, None),
        (0, 0),
        (0, 99),
        (100, 199),
        (1, CHUNK_BYTES),  # spans a chunk boundary
        (CHUNK_BYTES - 1, CHUNK_BYTES),
        (len(PAYLOAD) - 1, None),
        (len(PAYLOAD) - 1, len(PAYLOAD) - 1),
        (5000, None),
        (200_000, 10**9),  # end past the end: served up to the last byte
    ],
)
def test_open_serves_inclusive_byte_ranges(
    storage: LocalStorage, start: int, end: int | None
) -> None:
    key = store(storage)
    expected = PAYLOAD[start:] if end is None else PAYLOAD[start : end + 1]

    assert read_all(storage, key, start, end) == expected


def test_open_past_the_end_yields_nothing(storage: LocalStorage) -> None:
    key = store(storage)

    assert read_all(storage, key, len(PAYLOAD)) == b""
    assert read_all(storage, key, len(PAYLOAD) + 10, len(PAYLOAD) + 20) == b""


def test_open_reads_in_bounded_chunks(storage: LocalStorage) -> None:
    key = store(storage)

    chunks = list(storage.open(key))

    assert max(len(chunk) for chunk in chunks) <= CHUNK_BYTES
    assert len(chunks) == -(-len(PAYLOAD) // CHUNK_BYTES)


def test_missing_objects_raise_storage_error(storage: LocalStorage) -> None:
    key = new_key()

    with pytest.raises(StorageError):
        storage.open(key)
    with pytest.raises(StorageError):
        storage.size(key)
    assert not storage.exists(key)


# --- Delete, exists, listing --------------------------------------------------------------------


def test_delete_returns_true_then_false(storage: LocalStorage) -> None:
    key = store(storage)

    assert storage.delete(key) is True
    assert not storage.exists(key)
    assert storage.delete(key) is False


def test_iter_keys_lists_only_stored_objects(storage: LocalStorage) -> None:
    original, playback = store(storage), store(storage, suffix=".mp3")
    with storage.staged_upload() as in_progress:
        storage.receive(in_progress, [b"partial"], max_bytes=100)
        stray_folder = storage.root / original[:2]
        (stray_folder / "notes.txt").write_text("stray")
        (stray_folder / ("A" * 32)).write_text("uppercase")
        (storage.root / "README").write_text("stray")
        (storage.root / "zz").mkdir(exist_ok=True)
        (storage.root / "zz" / "subdir").mkdir()
        (storage.root / "xyz").mkdir()
        (storage.root / "xyz" / ("a" * 32)).write_text("three-letter folder")

        keys = sorted(storage.iter_keys())

    assert keys == sorted([original, playback])


def test_iter_keys_on_an_empty_or_missing_root(tmp_path: Path) -> None:
    assert list(LocalStorage(tmp_path / "never-created").iter_keys()) == []


# --- Permissions --------------------------------------------------------------------------------


def test_stored_files_are_private(storage: LocalStorage) -> None:
    previous = os.umask(0o022)  # a typical, more permissive process umask
    try:
        key = store(storage)
    finally:
        os.umask(previous)
    path = storage.path_for(key)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((storage.root / ".staging").stat().st_mode) == 0o700


def test_staged_files_are_private_from_the_start(storage: LocalStorage) -> None:
    with storage.staged_upload() as staged:
        assert stat.S_IMODE(staged.path.stat().st_mode) == 0o600


# --- Containment --------------------------------------------------------------------------------
# Decision: a key whose file resolves outside the root (through a symlinked fan-out folder or a
# symlinked file) is refused for every operation and never listed. The storage root itself may
# be a symlink; it is resolved once, when the storage is created.


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def test_a_symlinked_fan_out_folder_is_refused(storage: LocalStorage, outside: Path) -> None:
    key = new_key()
    victim = outside / key.split("/")[1]
    victim.write_bytes(b"someone else's file")
    storage.root.mkdir(parents=True)
    (storage.root / key[:2]).symlink_to(outside, target_is_directory=True)

    for operation in (storage.path_for, storage.exists, storage.open, storage.size):
        with pytest.raises(InvalidKey):
            operation(key)
    with pytest.raises(InvalidKey):
        storage.delete(key)
    with storage.staged_upload() as staged:
        storage.receive(staged, [b"overwrite"], max_bytes=100)
        with pytest.raises(InvalidKey):
            storage.put(key, staged)

    assert victim.read_bytes() == b"someone else's file"
    assert list(storage.iter_keys()) == []


def test_a_symlinked_object_is_refused(storage: LocalStorage, outside: Path) -> None:
    secret = outside / "secret"
    secret.write_bytes(b"not a recording")
    key = new_key()
    (storage.root / key[:2]).mkdir(parents=True)
    (storage.root / key).symlink_to(secret)

    with pytest.raises(InvalidKey):
        read_all(storage, key)
    with pytest.raises(InvalidKey):
        storage.delete(key)
    assert secret.exists()
    assert list(storage.iter_keys()) == []


def test_a_symlinked_root_is_followed_once(tmp_path: Path, outside: Path) -> None:
    link = tmp_path / "recordings-link"
    link.symlink_to(outside, target_is_directory=True)
    storage = LocalStorage(link)

    key = store(storage)

    assert storage.root == outside.resolve()
    assert (outside / key).read_bytes() == PAYLOAD
    assert list(storage.iter_keys()) == [key]


def test_a_scratch_directory_lives_in_staging_and_is_removed_on_exit(
    storage: LocalStorage,
) -> None:
    with storage.scratch_directory() as scratch:
        (scratch / "export.zip").write_bytes(b"partial")
        assert scratch.parent == storage.root / ".staging"
    assert not scratch.exists()
    assert list(storage.iter_keys()) == []


def test_abandoned_staging_is_removed_and_live_staging_is_kept(storage: LocalStorage) -> None:
    """What a process killed mid-upload or mid-build left: a staged file, a scratch folder."""
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    staging = storage.root / ".staging"
    staging.mkdir(parents=True)
    abandoned_file = staging / "upload-killed"
    abandoned_file.write_bytes(b"half of a call")
    abandoned_folder = staging / "scratch-killed"
    abandoned_folder.mkdir()
    (abandoned_folder / "export.zip").write_bytes(b"half of an export")
    live = staging / "upload-live"
    live.write_bytes(b"still arriving")
    old = (now - timedelta(hours=25)).timestamp()
    for path in (abandoned_file, abandoned_folder):
        os.utime(path, (old, old))
    young = (now - timedelta(minutes=5)).timestamp()
    os.utime(live, (young, young))

    assert storage.remove_abandoned_staging(older_than=now - timedelta(hours=24)) == 2
    assert sorted(path.name for path in staging.iterdir()) == ["upload-live"]
    assert storage.remove_abandoned_staging(older_than=now - timedelta(hours=24)) == 0
