"""Recordings sealed at rest (`recordings.sealing`): round trips, ranges, and refusal of
anything tampered with."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cs_register.crypto import Keyring
from recordings.audio import AudioRejected, inspect_audio
from recordings.sealing import (
    HEADER_BYTES,
    MAGIC,
    SealedObjectCorrupt,
    SealedStorage,
    for_original,
)
from recordings.storage import LocalStorage, RecordingStorage, StorageError, new_key
from tests.recordings.audio_samples import write_wav_pcm16

SEGMENT = 1024  # small segments so every edge is cheap to reach
TAG = 16
ENCRYPTION_KEY, INDEX_KEY, LATER_KEY = os.urandom(32), os.urandom(32), os.urandom(32)


def keyring(*, with_v2: bool = False) -> Keyring:
    return Keyring(
        encryption_key=ENCRYPTION_KEY,
        index_key=INDEX_KEY,
        later_versions={2: LATER_KEY} if with_v2 else None,
    )


@pytest.fixture
def inner(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "store")


@pytest.fixture
def sealed(inner: LocalStorage) -> SealedStorage:
    return SealedStorage(inner, keyring().audio, segment_bytes=SEGMENT)


def store(storage: RecordingStorage, data: bytes, key: str | None = None) -> str:
    """A new object holding `data`: sealed through a `SealedStorage`, in clear through the
    backend itself (as recordings were stored before sealing)."""
    key = key or new_key()
    with storage.staged_upload() as staged:
        storage.receive(staged, [data], max_bytes=len(data) + 1)
        storage.put(key, staged)
    return key


def read(storage: SealedStorage, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(storage.open(key, start, end))


def raw(inner: LocalStorage, key: str) -> bytes:
    return inner.path_for(key).read_bytes()


def rewrite(inner: LocalStorage, key: str, data: bytes) -> None:
    inner.path_for(key).write_bytes(data)


@pytest.mark.parametrize(
    "size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 3 * SEGMENT + 17]
)
def test_round_trip_at_every_segment_edge(
    sealed: SealedStorage, inner: LocalStorage, size: int
) -> None:
    data = os.urandom(size)
    key = store(sealed, data)
    assert read(sealed, key) == data
    assert sealed.size(key) == size
    segments = max(1, -(-size // SEGMENT))
    assert inner.size(key) == HEADER_BYTES + size + segments * TAG
    assert raw(inner, key).startswith(MAGIC)


DATA = os.urandom(5 * SEGMENT + 300)
# One object for every range, stored once: Hypothesis runs many examples.
_SHARED: dict[str, object] = {}


def _shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[SealedStorage, str]:
    if "storage" not in _SHARED:
        storage = SealedStorage(
            LocalStorage(tmp_path_factory.mktemp("ranges")), keyring().audio, segment_bytes=SEGMENT
        )
        _SHARED["storage"], _SHARED["key"] = storage, store(storage, DATA)
    return _SHARED["storage"], _SHARED["key"]  # type: ignore[return-value]


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.integers(min_value=0, max_value=len(DATA) + 5),
    length=st.integers(min_value=0, max_value=len(DATA) + 5) | st.none(),
)
def test_every_byte_range_is_the_plaintext_slice(
    tmp_path_factory: pytest.TempPathFactory, start: int, length: int | None
) -> None:
    storage, key = _shared(tmp_path_factory)
    end = None if length is None else start + length - 1
    expected = DATA[start:] if end is None else DATA[start : end + 1]
    assert read(storage, key, start, end) == expected


def test_a_range_reads_only_the_segments_it_needs(
    sealed: SealedStorage, inner: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = store(sealed, DATA)
    asked: list[tuple[int, int | None]] = []
    real_open = LocalStorage.open

    def spying_open(
        self: LocalStorage, key: str, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        asked.append((start, end))
        return real_open(self, key, start, end)

    monkeypatch.setattr(LocalStorage, "open", spying_open)
    assert (
        read(sealed, key, 2 * SEGMENT + 5, 2 * SEGMENT + 9)
        == DATA[2 * SEGMENT + 5 : 2 * SEGMENT + 10]
    )
    sealed_segment = SEGMENT + TAG
    assert asked[-1] == (
        HEADER_BYTES + 2 * sealed_segment,
        HEADER_BYTES + 3 * sealed_segment - 1,
    )


def test_stored_bytes_are_not_audio_and_hold_no_run_of_the_plaintext(
    tmp_path: Path, inner: LocalStorage
) -> None:
    storage = SealedStorage(inner, keyring().audio)  # the real segment size
    audio = write_wav_pcm16(tmp_path / "call.wav", seconds=3)
    plaintext = audio.read_bytes()
    key = store(storage, plaintext)
    stored = raw(inner, key)
    with pytest.raises(AudioRejected):
        inspect_audio(inner.path_for(key))
    # No 16-byte window of the plaintext (its RIFF header, a stretch of samples) survives.
    windows = {plaintext[i : i + 16] for i in range(0, len(plaintext) - 16, 7)}
    assert not any(window in stored for window in windows)
    assert read(storage, key) == plaintext


@pytest.mark.parametrize("position", ["header", "first", "middle", "last", "tag"])
def test_a_flipped_byte_anywhere_is_refused(
    sealed: SealedStorage, inner: LocalStorage, position: str
) -> None:
    key = store(sealed, DATA)
    stored = bytearray(raw(inner, key))
    sealed_segment = SEGMENT + TAG
    offset = {
        "header": 12,  # the plaintext size field
        "first": HEADER_BYTES + 3,
        "middle": HEADER_BYTES + 2 * sealed_segment + 100,
        "last": len(stored) - TAG - 1,
        "tag": len(stored) - 1,
    }[position]
    stored[offset] ^= 0x01
    rewrite(inner, key, bytes(stored))
    with pytest.raises(SealedObjectCorrupt):
        read(sealed, key)


def test_every_header_byte_is_authenticated(sealed: SealedStorage, inner: LocalStorage) -> None:
    key = store(sealed, b"hello" * 500)
    original = raw(inner, key)
    strict = SealedStorage(inner, keyring().audio, segment_bytes=SEGMENT, read_plaintext=False)
    for offset in range(HEADER_BYTES):
        damaged = bytearray(original)
        damaged[offset] ^= 0x40
        rewrite(inner, key, bytes(damaged))
        with pytest.raises(StorageError):
            read(strict, key)
        if offset >= len(MAGIC):
            with pytest.raises(StorageError):
                read(sealed, key)


def test_swapped_segments_are_refused(sealed: SealedStorage, inner: LocalStorage) -> None:
    key = store(sealed, DATA)
    stored = raw(inner, key)
    size = SEGMENT + TAG
    first = stored[HEADER_BYTES : HEADER_BYTES + size]
    second = stored[HEADER_BYTES + size : HEADER_BYTES + 2 * size]
    rewrite(inner, key, stored[:HEADER_BYTES] + second + first + stored[HEADER_BYTES + 2 * size :])
    with pytest.raises(SealedObjectCorrupt):
        read(sealed, key, 0, 10)


def test_a_truncated_object_is_refused(sealed: SealedStorage, inner: LocalStorage) -> None:
    key = store(sealed, DATA)
    stored = raw(inner, key)
    # Cut at a segment boundary: every remaining segment is intact, but the last is missing.
    rewrite(inner, key, stored[: HEADER_BYTES + 3 * (SEGMENT + TAG)])
    with pytest.raises(SealedObjectCorrupt):
        read(sealed, key)
    with pytest.raises(SealedObjectCorrupt):
        sealed.size(key)


def test_appended_bytes_are_refused(sealed: SealedStorage, inner: LocalStorage) -> None:
    key = store(sealed, DATA)
    rewrite(inner, key, raw(inner, key) + b"more")
    with pytest.raises(SealedObjectCorrupt):
        sealed.size(key)


def test_a_segment_from_another_object_is_refused(
    sealed: SealedStorage, inner: LocalStorage
) -> None:
    one, other = store(sealed, DATA), store(sealed, DATA)
    stolen = raw(inner, other)[HEADER_BYTES : HEADER_BYTES + SEGMENT + TAG]
    stored = raw(inner, one)
    rewrite(inner, one, stored[:HEADER_BYTES] + stolen + stored[HEADER_BYTES + SEGMENT + TAG :])
    with pytest.raises(SealedObjectCorrupt):
        read(sealed, one, 0, 10)


def test_an_object_moved_to_another_key_is_refused(
    sealed: SealedStorage, inner: LocalStorage
) -> None:
    key, elsewhere = store(sealed, DATA), new_key()
    inner.path_for(elsewhere).parent.mkdir(parents=True, exist_ok=True)
    inner.path_for(elsewhere).write_bytes(raw(inner, key))
    with pytest.raises(SealedObjectCorrupt):
        read(sealed, elsewhere)


def test_a_key_version_this_deployment_lacks_is_refused(inner: LocalStorage) -> None:
    newer = SealedStorage(inner, keyring(with_v2=True).audio, segment_bytes=SEGMENT)
    key = store(newer, DATA)
    older = SealedStorage(inner, keyring().audio, segment_bytes=SEGMENT)
    with pytest.raises(SealedObjectCorrupt):
        read(older, key)
    other_keys = Keyring(encryption_key=os.urandom(32), index_key=os.urandom(32))
    with pytest.raises(SealedObjectCorrupt):
        read(SealedStorage(inner, other_keys.audio, segment_bytes=SEGMENT), key)


def test_objects_stored_before_sealing_still_read(inner: LocalStorage) -> None:
    key = store(inner, DATA)
    sealed = SealedStorage(inner, keyring().audio, segment_bytes=SEGMENT)
    assert read(sealed, key, 10, 20) == DATA[10:21]
    assert sealed.size(key) == len(DATA)
    assert sealed.key_version(key) is None
    strict = SealedStorage(inner, keyring().audio, read_plaintext=False)
    with pytest.raises(SealedObjectCorrupt):
        read(strict, key)


def test_reseal_rewraps_only_the_header_and_seals_plaintext(inner: LocalStorage) -> None:
    old = SealedStorage(inner, keyring().audio, segment_bytes=SEGMENT)
    sealed_key = store(old, DATA)
    plain_key = store(inner, DATA)
    before = raw(inner, sealed_key)

    new = SealedStorage(inner, keyring(with_v2=True).audio, segment_bytes=SEGMENT)
    assert new.reseal(sealed_key, version=2) is True
    assert new.reseal(plain_key, version=2) is True
    assert new.reseal(sealed_key, version=2) is False  # idempotent
    after = raw(inner, sealed_key)
    assert after[HEADER_BYTES:] == before[HEADER_BYTES:]  # segments unchanged
    assert after[:HEADER_BYTES] != before[:HEADER_BYTES]
    for key in (sealed_key, plain_key):
        assert new.key_version(key) == 2
        assert read(new, key) == DATA
        with pytest.raises(SealedObjectCorrupt):
            read(old, key)  # version 1 no longer opens it: it can be retired


def test_nothing_sealed_stays_in_staging(sealed: SealedStorage, inner: LocalStorage) -> None:
    store(sealed, DATA)
    assert not any((inner.root / ".staging").iterdir())


def test_with_sealing_new_objects_off_what_was_sealed_still_opens(inner: LocalStorage) -> None:
    """RECORDING_ENCRYPTION=0 stops sealing new recordings; it must not serve the sealed ones
    as their raw envelope (header and ciphertext as if they were audio)."""
    keys = keyring().audio
    before = SealedStorage(inner, keys)
    sealed_key = store(before, b"sealed earlier" * 1000)

    after = SealedStorage(inner, keys, seal_new=False)
    plain_key = store(after, b"stored plain" * 1000)

    assert read(after, sealed_key) == b"sealed earlier" * 1000
    assert after.size(sealed_key) == len(b"sealed earlier" * 1000)
    assert raw(inner, plain_key) == b"stored plain" * 1000
    assert read(after, plain_key) == b"stored plain" * 1000
    assert not raw(inner, sealed_key).startswith(b"sealed earlier")


def test_only_a_recording_stored_before_sealing_is_read_in_clear(inner: LocalStorage) -> None:
    key = store(inner, DATA)
    lenient = SealedStorage(inner, keyring().audio, segment_bytes=SEGMENT)

    assert for_original(lenient, None) is lenient
    assert read(for_original(lenient, None), key) == DATA
    with pytest.raises(SealedObjectCorrupt):
        read(for_original(lenient, 1), key)
    sealed_key = store(lenient, DATA)
    assert read(for_original(lenient, 1), sealed_key) == DATA
