"""What only the local recording storage has: atomic renames, files and folders on disk, their
modes, and containment (symlinks). The shared behaviour is in test_storage.py."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from recordings import storage as storage_module
from recordings.storage import InvalidKey, LocalStorage, new_key
from tests.recordings.storage_support import PAYLOAD, read_all, staging_files, store


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "recordings")


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
