"""The shared objects of one deployment, built once from its settings: the clock, the keyring,
the recording storage, the retention policy, the staff session rules and the password-hashing
cost.

`create_app` builds one for the web app and its commands, and every job process builds one
for itself (`jobs.context.job_runtime`), with the same function, so a job and a request never
disagree about where recordings are kept or how long.

Password hashing is one of them too (`staff.passwords.PasswordHashing`, at the settings'
cost); the staff services that set or check a password are handed it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app

from cs_register.audit.retention import AuditRetention
from cs_register.config import Settings
from cs_register.contacts.retention import ContactRetention
from cs_register.crypto import Keyring
from cs_register.db import utcnow
from cs_register.staff.passwords import HashingCost, PasswordHashing
from cs_register.staff.sessions import SessionPolicy
from recordings.object_storage import ObjectStorage
from recordings.retention import RetentionPolicy
from recordings.sealing import SealedStorage
from recordings.storage import LocalStorage, RecordingStorage

EXTENSION = "cs_register.runtime"


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    clock: Callable[[], datetime]
    keyring: Keyring
    storage: RecordingStorage
    # Data-subject exports (ZIP files), kept `settings.privacy_export_days` days.
    exports: RecordingStorage
    retention: RetentionPolicy
    # How long contacts are kept (`cs_register.contacts.retention`).
    contact_retention: ContactRetention
    # How long the audit trail is kept (`cs_register.audit.retention`).
    audit_retention: AuditRetention
    sessions: SessionPolicy
    passwords: PasswordHashing


def password_hashing_for(settings: Settings) -> PasswordHashing:
    """argon2id at the cost the settings name (`PASSWORD_HASH_*`)."""
    return PasswordHashing(
        HashingCost(
            time_cost=settings.password_hash_time_cost,
            memory_kib=settings.password_hash_memory_kib,
            parallelism=settings.password_hash_parallelism,
        )
    )


def recording_storage_for(settings: Settings) -> RecordingStorage:
    """The local folder, or the object store `RECORDING_STORAGE_URL` names (which stages
    uploads in that same folder)."""
    if settings.object_storage is not None:
        return ObjectStorage.from_settings(settings.object_storage, scratch=settings.storage_root)
    return LocalStorage(settings.storage_root)


def keyring_for(settings: Settings) -> Keyring:
    """Every configured key version; the highest encrypts new data."""
    return Keyring(
        encryption_key=settings.data_encryption_key,
        index_key=settings.blind_index_key,
        later_versions=settings.later_key_versions,
    )


def sealed_if_configured(
    storage: RecordingStorage, settings: Settings, keyring: Keyring
) -> RecordingStorage:
    """`storage` sealing what it keeps (`recordings.sealing`). RECORDING_ENCRYPTION=0 only
    stops sealing new recordings: those sealed before still open through their header."""
    return SealedStorage(
        storage,
        keyring.audio,
        read_plaintext=settings.recording_read_plaintext,
        seal_new=settings.recording_encryption,
    )


def build_runtime(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> Runtime:
    keyring = keyring_for(settings)
    return Runtime(
        settings=settings,
        clock=clock,
        keyring=keyring,
        storage=sealed_if_configured(recording_storage_for(settings), settings, keyring),
        exports=LocalStorage(settings.export_root),
        retention=RetentionPolicy(
            retention_months=settings.retention_months,
            hold_cap_months=settings.hold_cap_months,
        ),
        contact_retention=ContactRetention(days=settings.contact_retention_days),
        audit_retention=AuditRetention(years=settings.audit_retention_years),
        sessions=SessionPolicy(
            idle_timeout=settings.session_idle_timeout,
            absolute_lifetime=settings.session_absolute_lifetime,
        ),
        passwords=password_hashing_for(settings),
    )


def install(app: Flask, runtime: Runtime) -> None:
    """Make `runtime` the app's. The domain packages read its parts through the extension keys
    below (they sit beneath this module and cannot import `Runtime`)."""
    app.extensions[EXTENSION] = runtime
    app.extensions["cs_register.settings"] = runtime.settings
    app.extensions["cs_register.clock"] = runtime.clock
    app.extensions["cs_register.keyring"] = runtime.keyring
    app.extensions["cs_register.storage"] = runtime.storage
    app.extensions["cs_register.exports"] = runtime.exports
    app.extensions["cs_register.retention"] = runtime.retention
    app.extensions["cs_register.sessions"] = runtime.sessions
    app.extensions["cs_register.passwords"] = runtime.passwords


def current_runtime(app: Flask | None = None) -> Runtime:
    runtime: Runtime = (app or current_app).extensions[EXTENSION]
    return runtime
