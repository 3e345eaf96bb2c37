"""The storage contract: the same tests on both recording-storage backends, the local folder
and the S3-compatible object store (a real SeaweedFS server on loopback). Keys, staging,
limits, byte ranges, idempotent and batched deletes, listing, modification times, errors.

What only one backend has (file modes, symlink containment, a foreign object in a bucket)
is in test_local_storage.py and test_object_storage.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recordings.object_storage import ObjectStorage
from recordings.storage import (
    CHUNK_BYTES,
    InvalidKey,
    LocalStorage,
    RecordingStorage,
    StagedUpload,
    StorageError,
    UploadTooLarge,
    new_key,
    validate_key,
)
from tests.recordings.storage_support import (
    BACKENDS,
    PAYLOAD,
    object_storage,
    read_all,
    staging_files,
    staging_folder,
    store,
)
from tests.support.seaweedfs import S3Server


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordingStorage]:
    """Every test here runs on both backends: the local folder, then a fresh prefix of the
    SeaweedFS test bucket (its staging folder is local all the same)."""
    if request.param == "local":
        yield LocalStorage(tmp_path / "recordings")
        return
    server: S3Server = request.getfixturevalue("s3_server")
    bucket: str = request.getfixturevalue("s3_bucket")
    yield from object_storage(server, bucket, tmp_path / "recordings")


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
def test_validate_key_refuses_anything_not_generated(key: str, storage: RecordingStorage) -> None:
    with pytest.raises(InvalidKey):
        validate_key(key)
    # Every entry point refuses it before touching the file system or the object store.
    for operation in (storage.exists, storage.delete, storage.open, storage.size):
        with pytest.raises(InvalidKey):
            operation(key)
    with pytest.raises(InvalidKey):
        storage.modified_at(key)
    with pytest.raises(InvalidKey):
        storage_delete_many(storage)([new_key(), key])
    with storage.staged_upload() as staged:
        storage.receive(staged, [b"audio"], max_bytes=100)
        with pytest.raises(InvalidKey):
            storage.put(key, staged)
    assert list(storage.iter_keys()) == []


# --- Staging and put ----------------------------------------------------------------------------


def test_put_stores_the_exact_bytes_and_consumes_the_staged_file(storage: RecordingStorage) -> None:
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
    assert list(storage.iter_keys()) == [key]
    assert staging_files(storage) == []


def test_a_failure_while_staging_leaves_nothing_behind(storage: RecordingStorage) -> None:
    class PbxHungUp(Exception):
        pass

    def chunks() -> Iterator[bytes]:
        yield PAYLOAD[:CHUNK_BYTES]
        raise PbxHungUp

    with pytest.raises(PbxHungUp), storage.staged_upload() as staged:
        storage.receive(staged, chunks(), max_bytes=len(PAYLOAD))

    assert staging_files(storage) == []
    assert list(storage.iter_keys()) == []


def test_an_unused_staged_upload_is_removed(storage: RecordingStorage) -> None:
    with storage.staged_upload() as staged:
        assert staged.path.parent == staging_folder(storage)
        assert staged.path.exists()

    assert staging_files(storage) == []


def test_concurrent_staged_uploads_get_separate_files(storage: RecordingStorage) -> None:
    with storage.staged_upload() as first, storage.staged_upload() as second:
        storage.receive(first, [b"first"], max_bytes=100)
        storage.receive(second, [b"second"], max_bytes=100)
        assert first.path != second.path
        assert first.path.read_bytes() == b"first"
        assert second.path.read_bytes() == b"second"


# --- Receive: size limit and digest -------------------------------------------------------------


def test_receive_accepts_exactly_the_limit_and_computes_digest(storage: RecordingStorage) -> None:
    chunks = [PAYLOAD[i : i + 7777] for i in range(0, len(PAYLOAD), 7777)]
    with storage.staged_upload() as staged:
        storage.receive(staged, chunks, max_bytes=len(PAYLOAD))

        assert staged.size == len(PAYLOAD)
        assert staged.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
        assert staged.path.read_bytes() == PAYLOAD


def test_receive_refuses_one_byte_over_the_limit(storage: RecordingStorage) -> None:
    with pytest.raises(UploadTooLarge) as too_large, storage.staged_upload() as staged:
        storage.receive(staged, [PAYLOAD, b"x"], max_bytes=len(PAYLOAD))

    assert too_large.value.limit == len(PAYLOAD)
    assert staging_files(storage) == []


def test_receive_stops_reading_once_over_the_limit(storage: RecordingStorage) -> None:
    consumed: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            consumed.append(CHUNK_BYTES)
            yield b"\0" * CHUNK_BYTES

    with pytest.raises(UploadTooLarge), storage.staged_upload() as staged:
        storage.receive(staged, endless(), max_bytes=3 * CHUNK_BYTES)

    # Three chunks fit; the fourth crosses the limit and nothing more is read.
    assert len(consumed) == 4


def test_digest_of_an_empty_upload(storage: RecordingStorage) -> None:
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
    storage: RecordingStorage, start: int, end: int | None
) -> None:
    key = store(storage)
    expected = PAYLOAD[start:] if end is None else PAYLOAD[start : end + 1]

    assert read_all(storage, key, start, end) == expected


def test_open_past_the_end_yields_nothing(storage: RecordingStorage) -> None:
    key = store(storage)

    assert read_all(storage, key, len(PAYLOAD)) == b""
    assert read_all(storage, key, len(PAYLOAD) + 10, len(PAYLOAD) + 20) == b""


def test_open_reads_in_bounded_chunks(storage: RecordingStorage) -> None:
    key = store(storage)

    chunks = list(storage.open(key))

    assert max(len(chunk) for chunk in chunks) <= CHUNK_BYTES
    assert len(chunks) == -(-len(PAYLOAD) // CHUNK_BYTES)


def test_byte_ranges_are_exact_at_the_first_middle_and_last_byte(
    storage: RecordingStorage,
) -> None:
    """What a player's Range requests ask for: single bytes and open-ended tails."""
    key = store(storage)
    last = len(PAYLOAD) - 1
    middle = len(PAYLOAD) // 2 + 7

    assert read_all(storage, key, 0, 0) == PAYLOAD[:1]
    assert read_all(storage, key, middle, middle) == PAYLOAD[middle : middle + 1]
    assert read_all(storage, key, last, last) == PAYLOAD[last:]
    assert read_all(storage, key, middle) == PAYLOAD[middle:]
    assert read_all(storage, key, middle, middle - 1) == b""


def test_a_reader_that_stops_early_gets_only_what_it_asked_for(storage: RecordingStorage) -> None:
    """A player that hangs up mid-stream: the rest is never read, and the object is intact."""
    key = store(storage)
    stream = storage.open(key)

    first = next(iter(stream))
    close = getattr(stream, "close", None)
    if close is not None:
        close()

    assert first == PAYLOAD[: len(first)]
    assert read_all(storage, key) == PAYLOAD


def test_missing_objects_raise_storage_error(storage: RecordingStorage) -> None:
    key = new_key()

    for operation in (storage.open, storage.size, storage.modified_at):
        with pytest.raises(StorageError, match="stored object is missing"):
            operation(key)
    with pytest.raises(StorageError, match="stored object is missing"):
        storage.open(key, 10, 20)
    assert not storage.exists(key)


def test_modified_at_is_when_the_object_was_stored(storage: RecordingStorage) -> None:
    # Object stores keep whole seconds; the local file system keeps finer times.
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    key = store(storage)
    after = datetime.now(UTC) + timedelta(seconds=1)

    written = storage.modified_at(key)

    assert written.tzinfo is not None
    assert before <= written <= after


# --- Delete, exists, listing --------------------------------------------------------------------


def test_delete_returns_true_then_false(storage: RecordingStorage) -> None:
    key = store(storage)

    assert storage.delete(key) is True
    assert not storage.exists(key)
    assert storage.delete(key) is False
    with pytest.raises(StorageError):
        storage.open(key)


def test_deleting_a_key_never_stored_is_not_an_error(storage: RecordingStorage) -> None:
    assert storage.delete(new_key(".wav")) is False


def storage_delete_many(storage: RecordingStorage) -> Callable[[Iterable[str]], set[str]]:
    """The batched delete both backends offer beside the interface."""
    assert isinstance(storage, LocalStorage | ObjectStorage)
    return storage.delete_many


def test_delete_many_deletes_a_batch_and_counts_the_already_gone(
    storage: RecordingStorage,
) -> None:
    kept = store(storage, b"kept")
    doomed = [store(storage, bytes([n]) * 10) for n in range(5)]
    already_gone = new_key(".wav")

    gone = storage_delete_many(storage)([*doomed, already_gone])

    assert gone == {*doomed, already_gone}
    assert list(storage.iter_keys()) == [kept]
    assert read_all(storage, kept) == b"kept"
    assert storage_delete_many(storage)(doomed) == set(doomed)
    assert storage_delete_many(storage)([]) == set()


def test_iter_keys_lists_exactly_the_stored_keys(storage: RecordingStorage) -> None:
    assert list(storage.iter_keys()) == []
    keys = {store(storage, bytes([n]), suffix=".wav") for n in range(12)}
    playback = store(storage, suffix=".mp3")
    with storage.staged_upload() as in_progress:
        storage.receive(in_progress, [b"partial"], max_bytes=100)

        listed = list(storage.iter_keys())

    assert sorted(listed) == sorted({*keys, playback})
    storage.delete(playback)
    assert sorted(storage.iter_keys()) == sorted(keys)


def test_staged_files_are_private_from_the_start(storage: RecordingStorage) -> None:
    with storage.staged_upload() as staged:
        assert stat.S_IMODE(staged.path.stat().st_mode) == 0o600


def test_a_scratch_directory_lives_in_staging_and_is_removed_on_exit(
    storage: RecordingStorage,
) -> None:
    with storage.scratch_directory() as scratch:
        (scratch / "export.zip").write_bytes(b"partial")
        assert scratch.parent == staging_folder(storage)
    assert not scratch.exists()
    assert list(storage.iter_keys()) == []


def test_abandoned_staging_is_removed_and_live_staging_is_kept(storage: RecordingStorage) -> None:
    """What a process killed mid-upload or mid-build left: a staged file, a scratch folder."""
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    staging = staging_folder(storage)
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
