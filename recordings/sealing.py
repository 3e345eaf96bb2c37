"""Recordings encrypted at rest: a storage backend wrapped so every object it keeps is sealed.

`SealedStorage(inner, keys)` has the storage interface of `recordings.storage` and keeps its
objects in `inner` (local folder or bucket) as envelopes:

    header (82 bytes)
      magic           8  b"\\x89CSRAUD"  (no audio container starts with it)
      format          1  1
      key version     1  the master key version the data key is wrapped under
      segment size    4  plaintext bytes per segment (64 KiB), big-endian
      plaintext size  8  big-endian
      wrapped key    60  the object's random 256-bit data key, AES-256-GCM under the master
                         key version, bound to the object key and every header field above
    segments          ceil(size / segment size) of them, at least one
      AES-256-GCM of each plaintext segment under the data key: nonce = segment index and
      "last segment" flag, associated data = object key and the header's fixed fields

So a Range request decrypts only the segments it touches, a segment moved, dropped, repeated
or taken from another object fails authentication, and a changed header field fails the data
key's unwrapping: any of them is `SealedObjectCorrupt`, never bytes. Staged uploads stay
plaintext in the inner backend's private staging area (the digest, the audio inspection and
the transcoding read them) and are sealed, streaming one segment at a time, by `put`.

Objects stored before sealing (no magic) still read as they are while `read_plaintext` is on;
`reseal` (the key rotation job) seals them, and re-wraps sealed ones under a newer key version
by rewriting only the header: each object is copied once, its segments unchanged.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cs_register.crypto import (
    TAG_BYTES,
    WRAPPED_KEY_BYTES,
    AudioKeys,
    DecryptionError,
    SegmentCipher,
)
from recordings.storage import RecordingStorage, StagedUpload, StorageError

MAGIC = b"\x89CSRAUD"
FORMAT = 1
SEGMENT_BYTES = 64 * 1024
_FIXED_BYTES = len(MAGIC) + 1 + 1 + 4 + 8
HEADER_BYTES = _FIXED_BYTES + WRAPPED_KEY_BYTES
_NO_LIMIT = sys.maxsize


class SealedObjectCorrupt(StorageError):
    """A sealed object failed authentication (tampered, truncated, or under an unknown key)."""


@dataclass(frozen=True)
class Header:
    key_version: int
    segment_bytes: int
    plaintext_bytes: int
    wrapped_key: bytes

    @property
    def segments(self) -> int:
        return max(1, -(-self.plaintext_bytes // self.segment_bytes))

    def fixed_fields(self) -> bytes:
        """Everything a re-wrap leaves unchanged; the segments are bound to these."""
        return (
            MAGIC
            + bytes([FORMAT])
            + self.segment_bytes.to_bytes(4, "big")
            + self.plaintext_bytes.to_bytes(8, "big")
        )

    def wrap_context(self, key: str) -> bytes:
        return b"cs-register|recording|" + key.encode("ascii") + b"|" + self.encode()[:_FIXED_BYTES]

    def segment_context(self, key: str) -> bytes:
        return b"cs-register|segment|" + key.encode("ascii") + b"|" + self.fixed_fields()

    def encode(self) -> bytes:
        return (
            MAGIC
            + bytes([FORMAT, self.key_version])
            + self.segment_bytes.to_bytes(4, "big")
            + self.plaintext_bytes.to_bytes(8, "big")
            + self.wrapped_key
        )

    @classmethod
    def decode(cls, raw: bytes) -> Header:
        if len(raw) != HEADER_BYTES or raw[len(MAGIC)] != FORMAT:
            raise SealedObjectCorrupt("sealed recording has an unreadable header")
        at = len(MAGIC) + 2
        segment_bytes = int.from_bytes(raw[at : at + 4], "big")
        if segment_bytes == 0:
            raise SealedObjectCorrupt("sealed recording has an unreadable header")
        return cls(
            key_version=raw[len(MAGIC) + 1],
            segment_bytes=segment_bytes,
            plaintext_bytes=int.from_bytes(raw[at + 4 : at + 12], "big"),
            wrapped_key=raw[_FIXED_BYTES:],
        )


class SealedStorage:
    """The storage interface over `inner`, sealing what it stores (see the module's text)."""

    def __init__(
        self,
        inner: RecordingStorage,
        keys: AudioKeys,
        *,
        segment_bytes: int = SEGMENT_BYTES,
        read_plaintext: bool = True,
        seal_new: bool = True,
    ) -> None:
        self.inner = inner
        # RECORDING_ENCRYPTION=0 stores new recordings as they are, but what was sealed before
        # must still open: reading always goes through the header.
        self.seal_new = seal_new
        self.keys = keys
        self.segment_bytes = segment_bytes
        # Objects stored before sealing have no header; once all are sealed this can be off,
        # and then anything without a header (a header whose magic was damaged) is refused.
        self.read_plaintext = read_plaintext

    @property
    def current_version(self) -> int:
        return self.keys.current_version

    # --- delegated ---------------------------------------------------------------------------

    def staged_upload(self) -> contextlib.AbstractContextManager[StagedUpload]:
        return self.inner.staged_upload()

    def receive(self, staged: StagedUpload, chunks: Iterable[bytes], *, max_bytes: int) -> None:
        self.inner.receive(staged, chunks, max_bytes=max_bytes)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete(self, key: str) -> bool:
        return self.inner.delete(key)

    @property
    def prefers_batched_deletes(self) -> bool:
        return bool(getattr(self.inner, "prefers_batched_deletes", False))

    def delete_many(self, keys: Iterable[str]) -> set[str]:
        """The inner backend's batched delete (one key at a time if it has none)."""
        batched = getattr(self.inner, "delete_many", None)
        if batched is not None:
            return set(batched(keys))
        gone = set()
        for key in keys:
            self.inner.delete(key)
            gone.add(key)
        return gone

    def iter_keys(self) -> Iterator[str]:
        return self.inner.iter_keys()

    def modified_at(self, key: str) -> datetime:
        return self.inner.modified_at(key)

    def scratch_directory(self) -> contextlib.AbstractContextManager[Path]:
        return self.inner.scratch_directory()

    def remove_abandoned_staging(self, *, older_than: datetime) -> int:
        return self.inner.remove_abandoned_staging(older_than=older_than)

    def reachable(self) -> bool:
        return self.inner.reachable()

    # --- sealed -------------------------------------------------------------------------------

    def put(self, key: str, staged: StagedUpload) -> None:
        """Store `staged`: sealed, or as it is when sealing new objects is off."""
        if self.seal_new:
            self._seal_and_put(key, staged)
        else:
            self.inner.put(key, staged)

    def _seal_and_put(self, key: str, staged: StagedUpload) -> None:
        """Seal the plaintext `staged` file into a new staged file of the inner backend and
        store that; one segment is in memory at a time."""
        version = self.keys.current_version
        plaintext_bytes = staged.path.stat().st_size
        unwrapped = Header(version, self.segment_bytes, plaintext_bytes, b"")
        data_key = self.keys.new_data_key()
        header = Header(
            version,
            self.segment_bytes,
            plaintext_bytes,
            self.keys.wrap(data_key, version=version, context=unwrapped.wrap_context(key)),
        )
        cipher = SegmentCipher(data_key, context=header.segment_context(key))
        with self.inner.staged_upload() as sealed:
            self.inner.receive(
                sealed, self._sealed_chunks(header, cipher, staged.path), max_bytes=_NO_LIMIT
            )
            self.inner.put(key, sealed)

    @staticmethod
    def _sealed_chunks(header: Header, cipher: SegmentCipher, source: Path) -> Iterator[bytes]:
        yield header.encode()
        with source.open("rb") as handle:
            for index in range(header.segments):
                plaintext = handle.read(header.segment_bytes)
                yield cipher.seal(index, plaintext, last=index == header.segments - 1)
            if handle.read(1):
                raise StorageError("the staged file grew while it was being sealed")

    def header(self, key: str) -> Header | None:
        """The object's header, or None for an object stored before sealing."""
        raw = b"".join(self.inner.open(key, 0, HEADER_BYTES - 1))
        if not raw.startswith(MAGIC):
            if self.read_plaintext:
                return None
            raise SealedObjectCorrupt("stored recording is not sealed")
        return Header.decode(raw)

    def _cipher(self, key: str, header: Header) -> SegmentCipher:
        return SegmentCipher(self._data_key(key, header), context=header.segment_context(key))

    def size(self, key: str) -> int:
        header = self.header(key)
        if header is None:
            return self.inner.size(key)
        self._data_key(key, header)  # a header whose fields were changed is refused here too
        final = header.segments - 1
        expected = (
            HEADER_BYTES
            + final * (header.segment_bytes + TAG_BYTES)
            + (header.plaintext_bytes - final * header.segment_bytes + TAG_BYTES)
        )
        if self.inner.size(key) != expected:
            raise SealedObjectCorrupt("sealed recording is truncated or has bytes appended")
        return header.plaintext_bytes

    def open(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the plaintext from `start` to `end` inclusive (HTTP Range semantics),
        decrypting only the segments the range touches."""
        header = self.header(key)
        if header is None:
            return self.inner.open(key, start, end)
        cipher = self._cipher(key, header)
        last_byte = (
            header.plaintext_bytes - 1 if end is None else min(end, header.plaintext_bytes - 1)
        )
        return self._plaintext(key, header, cipher, start, last_byte)

    def _plaintext(
        self, key: str, header: Header, cipher: SegmentCipher, start: int, end: int
    ) -> Iterator[bytes]:
        size = header.segment_bytes
        if header.plaintext_bytes == 0:
            # The one empty segment still proves nothing was appended or cut.
            first, last = 0, 0
        elif start > end:
            return
        else:
            first, last = start // size, end // size
        for index, plaintext in self._segments(key, header, cipher, first, last):
            offset = index * size
            piece = plaintext[max(start - offset, 0) : end - offset + 1]
            if piece:
                yield piece

    def _segments(
        self, key: str, header: Header, cipher: SegmentCipher, first: int, last: int
    ) -> Iterator[tuple[int, bytes]]:
        """Segments `first`..`last` decrypted, from one ranged read of the inner backend; the
        buffer holds at most one segment and one chunk."""
        sealed_size = header.segment_bytes + TAG_BYTES
        final = header.segments - 1
        final_length = header.plaintext_bytes - final * header.segment_bytes + TAG_BYTES
        start = HEADER_BYTES + first * sealed_size
        end = HEADER_BYTES + final * sealed_size + final_length - 1
        if last < final:
            end = HEADER_BYTES + (last + 1) * sealed_size - 1
        buffer = bytearray()
        index = first
        for chunk in self.inner.open(key, start, end):
            buffer += chunk
            while index <= last:
                want = final_length if index == final else sealed_size
                if len(buffer) < want:
                    break
                yield index, self._open_segment(cipher, index, bytes(buffer[:want]), final)
                del buffer[:want]
                index += 1
        if index <= last or buffer:
            raise SealedObjectCorrupt("sealed recording is truncated")

    @staticmethod
    def _open_segment(cipher: SegmentCipher, index: int, sealed: bytes, final: int) -> bytes:
        try:
            return cipher.open(index, sealed, last=index == final)
        except DecryptionError:
            raise SealedObjectCorrupt("sealed recording refused: a segment failed") from None

    # --- key rotation -------------------------------------------------------------------------

    def key_version(self, key: str) -> int | None:
        """The master key version the object's data key is wrapped under; None: plaintext."""
        header = self.header(key)
        return None if header is None else header.key_version

    def reseal(self, key: str, *, version: int) -> bool:
        """Put the object under master key `version`: a sealed object gets a new header (the
        data key re-wrapped, segments copied unchanged), a plaintext one is sealed. Atomic
        replace through the inner backend; False when it already was under `version`."""
        header = self.header(key)
        if header is not None and header.key_version == version:
            return False
        if header is None:
            self._seal_in_place(key, version)
            return True
        data_key = self._data_key(key, header)
        rewrapped = Header(
            version,
            header.segment_bytes,
            header.plaintext_bytes,
            self.keys.wrap(
                data_key,
                version=version,
                context=Header(
                    version, header.segment_bytes, header.plaintext_bytes, b""
                ).wrap_context(key),
            ),
        )

        def chunks() -> Iterator[bytes]:
            yield rewrapped.encode()
            yield from self.inner.open(key, HEADER_BYTES)

        with self.inner.staged_upload() as staged:
            self.inner.receive(staged, chunks(), max_bytes=_NO_LIMIT)
            self.inner.put(key, staged)
        return True

    def _data_key(self, key: str, header: Header) -> bytes:
        try:
            return self.keys.unwrap(
                header.wrapped_key, version=header.key_version, context=header.wrap_context(key)
            )
        except DecryptionError as error:
            raise SealedObjectCorrupt(f"sealed recording refused: {error}") from None

    def _seal_in_place(self, key: str, version: int) -> None:
        if version != self.keys.current_version:
            raise StorageError("plaintext recordings are sealed under the current version only")
        with self.inner.staged_upload() as plaintext:
            self.inner.receive(plaintext, self.inner.open(key), max_bytes=_NO_LIMIT)
            self._seal_and_put(key, plaintext)


def for_original(storage: RecordingStorage, key_version: int | None) -> RecordingStorage:
    """Where to read a recording's original from. An original the register sealed (its row
    names the key version) must still be sealed: one found without a header (replaced in the
    bucket, or its first bytes damaged) is refused as corrupt, never served as audio, whatever
    RECORDING_READ_PLAINTEXT says. (Its listening copy may have been made while sealing was
    off, so only the original is held to its row.)"""
    if key_version is None or not isinstance(storage, SealedStorage) or not storage.read_plaintext:
        return storage
    return SealedStorage(
        storage.inner,
        storage.keys,
        segment_bytes=storage.segment_bytes,
        read_plaintext=False,
        seal_new=storage.seal_new,
    )


def sealing_version(storage: RecordingStorage) -> int | None:
    """The key version `storage` seals new objects under; None when it stores plaintext."""
    if isinstance(storage, SealedStorage) and storage.seal_new:
        return storage.current_version
    return None
