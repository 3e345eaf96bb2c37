"""What only the S3-compatible backend has: objects beside ours in the bucket, multipart uploads,
server-side encryption, errors that never carry a credential, readiness, and the settings
that select it. Runs against the SeaweedFS server the suite starts (tests/support/seaweedfs.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cs_register.config import ConfigurationError, ObjectStoreSettings, Settings
from cs_register.runtime import recording_storage_for
from recordings.object_storage import MULTIPART_BYTES, ObjectStorage
from recordings.storage import LocalStorage, StorageError, new_key
from tests.recordings.storage_support import object_storage, read_all, staging_files, store
from tests.support.seaweedfs import S3Server


@pytest.fixture
def storage(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> Iterator[ObjectStorage]:
    yield from object_storage(s3_server, s3_bucket, tmp_path / "scratch")


def options(server: S3Server, bucket: str, **changes: Any) -> ObjectStoreSettings:
    fields: dict[str, Any] = {
        "bucket": bucket,
        "prefix": "settings-test",
        "endpoint_url": server.endpoint_url,
        "region": server.region,
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
        **changes,
    }
    return ObjectStoreSettings(**fields)


# --- The bucket is shared -----------------------------------------------------------------------


def test_foreign_objects_in_the_bucket_are_never_listed(
    storage: ObjectStorage, s3_server: S3Server, s3_bucket: str
) -> None:
    """Reconciliation deletes what it lists as orphans: it must list only our keys."""
    ours = store(storage, b"ours", suffix=".wav")
    client = s3_server.client()
    foreign = [
        f"{storage.prefix}/README",
        f"{storage.prefix}/{ours[:2]}/notes.txt",
        f"{storage.prefix}/{ours[:2]}/{'A' * 32}",
        f"{storage.prefix}/xyz/{'a' * 32}",
        f"{storage.prefix}/ab/cd/{'a' * 32}",
        f"{storage.prefix}-sibling/{new_key()}",
        new_key(),  # at the bucket's top, outside every prefix
    ]
    for name in foreign:
        client.put_object(Bucket=s3_bucket, Key=name, Body=b"someone else's")
    try:
        assert list(storage.iter_keys()) == [ours]
    finally:
        for name in foreign:
            client.delete_object(Bucket=s3_bucket, Key=name)


def test_two_prefixes_in_one_bucket_do_not_see_each_other(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    first = ObjectStorage(s3_server.client(), bucket=s3_bucket, prefix="one", scratch=tmp_path)
    second = ObjectStorage(s3_server.client(), bucket=s3_bucket, prefix="one-2", scratch=tmp_path)
    key = store(first, b"first")
    try:
        assert list(second.iter_keys()) == []
        assert not second.exists(key)
        assert second.delete(key) is False
        assert read_all(first, key) == b"first"
    finally:
        first.delete(key)


# --- Uploads ------------------------------------------------------------------------------------


def test_a_large_upload_goes_in_parts_and_arrives_intact(
    storage: ObjectStorage, s3_server: S3Server, s3_bucket: str
) -> None:
    payload = hashlib.sha256(b"seed").digest() * ((2 * MULTIPART_BYTES + 12345) // 32)
    key = store(storage, payload, suffix=".wav")

    head = s3_server.client().head_object(Bucket=s3_bucket, Key=storage.object_name(key))

    # A multipart upload's ETag ends in "-<number of parts>".
    assert head["ETag"].strip('"').endswith("-3")
    assert storage.size(key) == len(payload)
    assert hashlib.sha256(read_all(storage, key)).digest() == hashlib.sha256(payload).digest()
    tail = len(payload) - 10
    assert (
        read_all(storage, key, MULTIPART_BYTES - 5, MULTIPART_BYTES + 4)
        == (payload[MULTIPART_BYTES - 5 : MULTIPART_BYTES + 5])
    )
    assert read_all(storage, key, tail) == payload[tail:]
    assert staging_files(storage) == []


def test_server_side_encryption_is_asked_for_on_every_upload(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    storage = ObjectStorage.from_settings(
        options(s3_server, s3_bucket, server_side_encryption="AES256"), scratch=tmp_path
    )
    key = store(storage, b"encrypted at rest")
    try:
        head = s3_server.client().head_object(Bucket=s3_bucket, Key=storage.object_name(key))
        assert head["ServerSideEncryption"] == "AES256"
    finally:
        storage.delete(key)


def test_a_failed_upload_leaves_neither_object_nor_staged_file(
    s3_server: S3Server, tmp_path: Path
) -> None:
    storage = ObjectStorage(
        s3_server.client(), bucket="no-such-bucket-here", prefix="p", scratch=tmp_path
    )
    key = new_key()

    with storage.staged_upload() as staged:
        storage.receive(staged, [b"audio"], max_bytes=100)
        with pytest.raises(StorageError, match="upload"):
            storage.put(key, staged)

    assert staging_files(storage) == []


# --- Errors and readiness -----------------------------------------------------------------------


def test_refused_credentials_are_a_storage_error_that_names_no_credential(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_secret = "wrong-" + s3_server.secret_access_key[:20]
    storage = ObjectStorage.from_settings(
        options(s3_server, s3_bucket, secret_access_key=wrong_secret), scratch=tmp_path
    )
    caplog.set_level(logging.DEBUG, logger="recordings")

    for operation in (storage.exists, storage.open, storage.delete):
        with pytest.raises(StorageError) as refused:
            operation(new_key())
        message = str(refused.value)
        assert wrong_secret not in message
        assert s3_server.access_key_id not in message
        assert refused.value.__cause__ is None
    assert not storage.reachable()
    assert wrong_secret not in repr(storage.__dict__)
    assert wrong_secret not in caplog.text


def test_an_unreachable_store_is_a_storage_error_and_not_ready(tmp_path: Path) -> None:
    settings = ObjectStoreSettings(
        bucket="recordings",
        endpoint_url="http://127.0.0.1:9",  # the discard port: nothing listens
        access_key_id="AKIDEXAMPLE",
        secret_access_key="example-secret-never-shown",
    )
    storage = ObjectStorage.from_settings(settings, scratch=tmp_path)

    with pytest.raises(StorageError) as failed:
        storage.size(new_key())
    assert "example-secret-never-shown" not in str(failed.value)
    assert not storage.reachable()
    assert "example-secret-never-shown" not in repr(settings)


def test_reachable_when_the_bucket_answers(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    assert ObjectStorage.from_settings(options(s3_server, s3_bucket), scratch=tmp_path).reachable()
    missing = options(s3_server, "no-such-bucket-here")
    assert not ObjectStorage.from_settings(missing, scratch=tmp_path).reachable()


# --- Settings -----------------------------------------------------------------------------------


BASE_ENV = {
    "SECRET_KEY": "x" * 40,
    "DATA_ENCRYPTION_KEY": "A" * 43,
    "BLIND_INDEX_KEY": "B" * 43,
}


def from_env(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({**BASE_ENV, **env}, instance_path=tmp_path)


def test_without_a_storage_url_recordings_stay_in_the_local_folder(tmp_path: Path) -> None:
    settings = from_env(tmp_path)

    assert settings.object_storage is None
    assert isinstance(recording_storage_for(settings), LocalStorage)


def test_an_s3_url_selects_the_object_store_with_its_options(tmp_path: Path) -> None:
    settings = from_env(
        tmp_path,
        RECORDING_STORAGE_URL="s3://cs-recordings/prod/audio/",
        RECORDING_STORAGE_PATH=str(tmp_path / "scratch"),
        RECORDING_S3_ENDPOINT_URL="https://s3.example.fi",
        RECORDING_S3_REGION="eu-north-1",
        RECORDING_S3_ACCESS_KEY_ID="AKIDEXAMPLE",
        RECORDING_S3_SECRET_ACCESS_KEY="example-secret-never-shown",
        RECORDING_S3_SERVER_SIDE_ENCRYPTION="aws:kms",
        RECORDING_S3_KMS_KEY_ID="alias/recordings",
    )

    assert settings.object_storage == ObjectStoreSettings(
        bucket="cs-recordings",
        prefix="prod/audio",
        endpoint_url="https://s3.example.fi",
        region="eu-north-1",
        access_key_id="AKIDEXAMPLE",
        secret_access_key="example-secret-never-shown",
        server_side_encryption="aws:kms",
        kms_key_id="alias/recordings",
    )
    assert "example-secret-never-shown" not in repr(settings)
    storage = recording_storage_for(settings)
    assert isinstance(storage, ObjectStorage)
    assert (storage.bucket, storage.prefix) == ("cs-recordings", "prod/audio")
    assert storage.staging_path == tmp_path / "scratch" / ".staging"
    assert "example-secret-never-shown" not in repr(storage)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RECORDING_STORAGE_URL": "ftp://bucket/x"}, "s3://bucket"),
        ({"RECORDING_STORAGE_URL": "s3://Upper/x"}, "bucket must be"),
        ({"RECORDING_STORAGE_URL": "s3://ab"}, "bucket must be"),
        ({"RECORDING_STORAGE_URL": "s3://bucket/../x"}, "prefix must be"),
        ({"RECORDING_STORAGE_URL": "s3://bucket/a b"}, "prefix must be"),
        (
            {"RECORDING_STORAGE_URL": "s3://bucket", "RECORDING_S3_ENDPOINT_URL": "s3.example"},
            "RECORDING_S3_ENDPOINT_URL",
        ),
        (
            {
                "RECORDING_STORAGE_URL": "s3://bucket",
                "RECORDING_S3_ENDPOINT_URL": "https://AKID:topsecret@s3.example",
            },
            "without a path or credentials",
        ),
        (
            {"RECORDING_STORAGE_URL": "s3://bucket", "RECORDING_S3_ACCESS_KEY_ID": "AKID"},
            "go together",
        ),
        (
            {
                "RECORDING_STORAGE_URL": "s3://bucket",
                "RECORDING_S3_SECRET_ACCESS_KEY": "topsecret",
            },
            "go together",
        ),
        (
            {"RECORDING_STORAGE_URL": "s3://bucket", "RECORDING_S3_SERVER_SIDE_ENCRYPTION": "des"},
            "AES256 or aws:kms",
        ),
        (
            {"RECORDING_STORAGE_URL": "s3://bucket", "RECORDING_S3_KMS_KEY_ID": "alias/x"},
            "needs RECORDING_S3_SERVER_SIDE_ENCRYPTION=aws:kms",
        ),
    ],
)
def test_bad_object_storage_settings_are_refused_at_start_up(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as refused:
        from_env(tmp_path, **env)
    assert "topsecret" not in str(refused.value)


def test_production_refuses_a_plain_http_endpoint(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="https://"):
        from_env(
            tmp_path,
            CS_ENV="production",
            COOKIE_SECURE="1",
            RECORDING_STORAGE_URL="s3://bucket",
            RECORDING_S3_ENDPOINT_URL="http://s3.internal:8333",
        )
