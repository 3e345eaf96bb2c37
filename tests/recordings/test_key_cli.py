"""`flask keys rotate|status|retire` (`recordings.key_cli`), and the key version files that
`rotate` creates in development (`cs_register.config.write_key_version`)."""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask

from app import create_app
from cs_register.config import (
    PRODUCTION,
    Settings,
    generate_key,
    later_key_versions,
    write_key_version,
)
from cs_register.crypto import Keyring
from cs_register.customers import services as customer_services
from cs_register.customers.models import Customer
from cs_register.db import Database
from cs_register.staff.models import StaffUser
from recordings.key_rotation import KeyRotation
from recordings.models import Recording
from recordings.sealing import SealedStorage
from tests.recordings.test_key_rotation import CODES
from tests.support.context import make_context


def keys(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["keys", *args])


def restarted(settings: Settings, clock: Any, database: Database) -> Flask:
    """The app as a new process would build it: with the key folder's versions."""
    versions = later_key_versions({}, settings.instance_path)
    return create_app(
        settings.with_overrides(later_key_versions=versions), clock=clock, database=database
    )


@pytest.fixture
def customers(
    database: Database, keyring: Keyring, clock: Any, make_staff: Callable[..., StaffUser]
) -> dict[str, str]:
    """A customer per identity code, by public id."""
    agent = make_staff("supervisor", username="keys-agent")
    made = {}
    with database.unit_of_work() as session:
        ctx = make_context(session, session.get(StaffUser, agent.id), clock.now)
        for index, code in enumerate(CODES):
            customer = customer_services.create_customer(
                ctx,
                keyring,
                form={"given_names": "Test", "family_name": f"Keys{index}", "identity_code": code},
            )
            made[customer.public_id] = code
    return made


# --- key version files ----------------------------------------------------------------


def test_write_key_version_creates_a_private_file_and_never_overwrites(tmp_path: Path) -> None:
    path = write_key_version(tmp_path, 2)
    assert path == tmp_path / "keys" / "data_encryption_key.v2"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    first = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_key_version(tmp_path, 2)
    assert path.read_bytes() == first
    versions = later_key_versions({}, tmp_path)
    assert set(versions) == {2}
    assert len(versions[2]) == 32


def test_rotate_writes_the_version_after_the_highest_configured(
    settings: Settings, clock: Any, database: Database
) -> None:
    configured = settings.with_overrides(later_key_versions={2: bytes(32), 3: bytes(range(32))})
    app = create_app(configured, clock=clock, database=database)
    result = keys(app, "rotate", "--now")
    assert result.exit_code == 0, result.output
    assert "Created key version 4" in result.output
    assert set(later_key_versions({}, settings.instance_path)) == {4}


# --- rotate, status, retire -----------------------------------------------------------


def test_rotate_in_development_adds_version_2_and_moves_everything(
    app: Flask,
    settings: Settings,
    clock: Any,
    database: Database,
    customers: dict[str, str],
    make_recording: Callable[..., Recording],
) -> None:
    recordings = [make_recording(frequency=300 + 100 * n) for n in range(2)]
    before = keys(app, "status")
    assert before.exit_code == 0, before.output
    assert "1 (current)  3  " in before.output
    assert "No rotation has been started." in before.output

    result = keys(app, "rotate", "--now")
    assert result.exit_code == 0, result.output
    assert "Created key version 2" in result.output
    assert "finished: 3 values and 4 recording objects" in result.output
    key_file = settings.instance_path / "keys" / "data_encryption_key.v2"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # No key material in the output: neither the new key nor the configured ones.
    secret = key_file.read_text().strip()
    assert secret not in result.output

    # The next process (restarted, as the command says) holds version 2.
    after = restarted(settings, clock, database)
    status = keys(after, "status")
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert " ".join(lines[0].split()) == (
        "version identity codes revision values authenticator secrets webhook secrets recordings"
    )
    assert lines[1].split() == ["1", "0", "0", "0", "0", "0"]
    assert lines[2].split() == ["2", "(current)", "3", "0", "0", "0", "2"]
    assert "to version 2: finished (3 values, 4 recording objects)" in status.output

    keyring: Keyring = after.extensions["cs_register.keyring"]
    storage = after.extensions["cs_register.storage"]
    assert isinstance(storage, SealedStorage)
    strict = SealedStorage(storage.inner, keyring.audio, read_plaintext=False)
    with database.session_factory() as session:
        for public_id, code in customers.items():
            customer = session.scalar(sa.select(Customer).where(Customer.public_id == public_id))
            assert customer is not None
            assert customer.identity_code_key_version == 2
            ciphertext = customer.identity_code_ciphertext
            assert ciphertext is not None
            assert keyring.identity_code.decrypt(ciphertext, row_id=public_id) == code
        for made in recordings:
            row = session.get(Recording, made.id)
            assert row is not None
            assert row.key_version == 2
            assert row.storage_key is not None
            audio = b"".join(strict.open(row.storage_key))
            assert hashlib.sha256(audio).hexdigest() == row.sha256

    refused = keys(after, "retire", "2")
    assert refused.exit_code == 1
    assert "current one" in refused.output
    retired = keys(after, "retire", "1")
    assert retired.exit_code == 0, retired.output
    assert "Key version 1 is retired" in retired.output


def test_retire_is_refused_while_anything_uses_the_version(
    app: Flask, settings: Settings, clock: Any, database: Database, customers: dict[str, str]
) -> None:
    write_key_version(settings.instance_path, 2)  # added, rolled out, not yet rotated
    after = restarted(settings, clock, database)
    refused = keys(after, "retire", "1")
    assert refused.exit_code == 1
    assert "still used by 3 identity codes" in refused.output

    # Not finished: no queue here, so the rotation waits for a worker or `--now`.
    queued = keys(after, "rotate")
    assert queued.exit_code == 0, queued.output
    assert "Started rotation" in queued.output
    assert "No job queue is reachable" in queued.output
    status = keys(after, "status")
    assert "phase 1/5 identity_codes, 0/3 rows" in status.output
    assert keys(after, "retire", "1").exit_code == 1

    # Asked again, it resumes that rotation instead of adding version 3.
    resumed = keys(after, "rotate", "--now")
    assert resumed.exit_code == 0, resumed.output
    assert "Resuming rotation" in resumed.output
    assert not (settings.instance_path / "keys" / "data_encryption_key.v3").exists()
    with database.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(KeyRotation)) == 1
    assert keys(after, "retire", "1").exit_code == 0


def test_rotate_in_production_refuses_to_create_a_key_and_says_how(
    app: Flask, settings: Settings, database: Database
) -> None:
    production = settings.with_overrides(
        env=PRODUCTION,
        cookie_secure=True,
        two_step_login="required",
        password_hash_time_cost=2,
        password_hash_memory_kib=19 * 1024,
        secret_key=generate_key(48),
    )
    app.extensions["cs_register.settings"] = production
    result = keys(app, "rotate")
    assert result.exit_code == 1
    assert "DATA_ENCRYPTION_KEYS" in result.output
    assert ",2:<that key>" in result.output
    assert "restart" in result.output
    assert not (settings.instance_path / "keys" / "data_encryption_key.v2").exists()
    with database.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(KeyRotation)) == 0
