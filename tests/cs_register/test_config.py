"""Settings from the environment: production refuses to guess secrets, development makes its
own (once, privately), and bad values stop start-up with a message naming the variable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from cs_register.config import DEVELOPMENT, ConfigurationError, Settings, generate_key
from cs_register.db import get_database

SECRETS = ("SECRET_KEY", "DATA_ENCRYPTION_KEY", "BLIND_INDEX_KEY")


def production_env(instance: Path, **overrides: str) -> dict[str, str]:
    env = {
        "CS_ENV": "production",
        "CS_INSTANCE_PATH": str(instance),
        "COOKIE_SECURE": "1",
        "DATABASE_URL": "postgresql+psycopg://cs@db.internal/cs_register",
        **{name: generate_key() for name in SECRETS},
    }
    env.update(overrides)
    return env


@pytest.mark.parametrize("missing", SECRETS)
def test_production_refuses_to_start_without_each_secret(tmp_path: Path, missing: str) -> None:
    env = production_env(tmp_path / "instance")
    del env[missing]

    with pytest.raises(ConfigurationError, match=missing):
        Settings.from_env(env)

    # Production never invents a key on disk to cover for a missing one.
    assert not (tmp_path / "instance" / "keys").exists()


def test_production_with_every_secret_set_starts(tmp_path: Path) -> None:
    env = production_env(tmp_path / "instance", SECRET_KEY="s" * 40)
    settings = Settings.from_env(env)
    assert settings.is_production
    assert settings.secret_key == "s" * 40
    assert settings.cookie_secure


def test_production_refuses_optional_two_step_login(tmp_path: Path) -> None:
    env = production_env(tmp_path / "instance", TWO_STEP_LOGIN="optional")
    with pytest.raises(ConfigurationError, match="TWO_STEP_LOGIN=required"):
        Settings.from_env(env)


def test_production_refuses_a_secret_key_shorter_than_32_bytes(tmp_path: Path) -> None:
    env = production_env(tmp_path / "instance", SECRET_KEY="s" * 31)
    with pytest.raises(ConfigurationError, match="SECRET_KEY must be at least 32 bytes"):
        Settings.from_env(env)
    assert Settings.from_env({**env, "SECRET_KEY": "s" * 32}).secret_key == "s" * 32


def test_the_sqlite_database_and_its_wal_are_private_files(tmp_path: Path) -> None:
    settings = Settings.from_env({"CS_INSTANCE_PATH": str(tmp_path)})
    app = create_app(settings)
    database = get_database(app)
    with database.unit_of_work() as session:
        session.execute(sa.text("CREATE TABLE probe (x INTEGER)"))
        session.execute(sa.text("INSERT INTO probe VALUES (1)"))
    files = sorted(tmp_path.glob("cs_register.sqlite3*"))
    assert [path.name for path in files][:2] == ["cs_register.sqlite3", "cs_register.sqlite3-shm"]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_production_without_https_cookies_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="COOKIE_SECURE"):
        Settings.from_env(production_env(tmp_path / "instance", COOKIE_SECURE="0"))


def test_development_generates_private_keys_once_and_reuses_them(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    env = {"CS_INSTANCE_PATH": str(instance)}

    first = Settings.from_env(env)
    second = Settings.from_env(env)

    assert first.env == DEVELOPMENT
    keys = instance / "keys"
    assert sorted(path.name for path in keys.iterdir()) == sorted(name.lower() for name in SECRETS)
    for path in keys.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) & 0o077 == 0
    assert (second.secret_key, second.data_encryption_key, second.blind_index_key) == (
        first.secret_key,
        first.data_encryption_key,
        first.blind_index_key,
    )
    assert first.data_encryption_key != first.blind_index_key


def test_development_prefers_keys_given_in_the_environment(tmp_path: Path) -> None:
    key = generate_key()
    settings = Settings.from_env({"CS_INSTANCE_PATH": str(tmp_path), "SECRET_KEY": key})
    assert settings.secret_key == key
    assert not (tmp_path / "keys" / "secret_key").exists()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SESSION_IDLE_TIMEOUT_MINUTES", "thirty", "SESSION_IDLE_TIMEOUT_MINUTES must be a whole"),
        ("RETENTION_MONTHS", "3.5", "RETENTION_MONTHS must be a whole number, got '3.5'"),
        ("MAX_UPLOAD_BYTES", "12", "MAX_UPLOAD_BYTES must be at least 1024"),
        ("SWEEP_INTERVAL_MINUTES", "0", "SWEEP_INTERVAL_MINUTES must be at least 1"),
        ("RQ_FAILURE_TTL_SECONDS", "-5", "RQ_FAILURE_TTL_SECONDS must be at least 60"),
    ],
)
def test_invalid_numbers_are_refused_with_a_clear_message(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"CS_INSTANCE_PATH": str(tmp_path), name: value})
    assert message in str(raised.value)


def test_hold_cap_above_twelve_months_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="HOLD_CAP_MONTHS may not exceed 12"):
        Settings.from_env({"CS_INSTANCE_PATH": str(tmp_path), "HOLD_CAP_MONTHS": "13"})


def test_hold_cap_of_twelve_months_and_shorter_retention_are_accepted(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"CS_INSTANCE_PATH": str(tmp_path), "HOLD_CAP_MONTHS": "12", "RETENTION_MONTHS": "6"}
    )
    assert (settings.hold_cap_months, settings.retention_months) == (12, 6)


def test_retention_longer_than_the_hold_cap_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="RETENTION_MONTHS"):
        Settings.from_env(
            {"CS_INSTANCE_PATH": str(tmp_path), "HOLD_CAP_MONTHS": "6", "RETENTION_MONTHS": "7"}
        )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CS_ENV": "staging"}, "CS_ENV must be 'development' or 'production'"),
        ({"DATA_ENCRYPTION_KEY": "not base64!"}, "DATA_ENCRYPTION_KEY must be URL-safe base64"),
        ({"DATA_ENCRYPTION_KEY": generate_key(16)}, "exactly 32 bytes"),
        ({"BLIND_INDEX_KEY": generate_key(8)}, "BLIND_INDEX_KEY must decode to at least 32"),
        ({"PUBLIC_ORIGIN": "cs.example.fi"}, "PUBLIC_ORIGIN must look like https://"),
        ({"PUBLIC_ORIGIN": "https://cs.example.fi/console"}, "PUBLIC_ORIGIN must look like"),
    ],
)
def test_malformed_values_are_refused(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"CS_INSTANCE_PATH": str(tmp_path), **env})
    assert message in str(raised.value)


def test_same_key_for_encryption_and_index_is_refused(tmp_path: Path) -> None:
    key = generate_key()
    with pytest.raises(ConfigurationError, match="must differ"):
        Settings.from_env(
            {"CS_INSTANCE_PATH": str(tmp_path), "DATA_ENCRYPTION_KEY": key, "BLIND_INDEX_KEY": key}
        )


def test_create_app_with_explicit_settings_uses_them(settings: Settings) -> None:
    app = create_app(settings)
    assert app.extensions["cs_register.settings"] is settings
    assert Path(app.instance_path) == settings.instance_path
    assert app.config["SECRET_KEY"] == settings.secret_key
    assert app.test_client().get("/health").status_code == 200


def test_create_app_without_settings_reads_the_environment(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (*SECRETS, "CS_ENV", "REDIS_URL", "HOLD_CAP_MONTHS", "RETENTION_MONTHS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CS_INSTANCE_PATH", str(tmp_path / "from-env"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SESSION_IDLE_TIMEOUT_MINUTES", "7")
    # Not testing mode, so create_app would add a log handler to this whole test process.
    monkeypatch.setattr("cs_register.logs.configure_logging", lambda: None)

    app = create_app()

    settings: Settings = app.extensions["cs_register.settings"]
    assert settings.env == DEVELOPMENT
    assert settings.instance_path == (tmp_path / "from-env").resolve()
    assert settings.database_url == database_url
    assert settings.session_idle_timeout.total_seconds() == 7 * 60
    assert (tmp_path / "from-env" / "keys" / "secret_key").exists()
    try:
        assert app.test_client().get("/health").json == {"status": "ok", "database": "ok"}
    finally:
        get_database(app).dispose()


def test_the_public_origin_is_kept_as_scheme_host_and_port(tmp_path: Path) -> None:
    env = {"CS_INSTANCE_PATH": str(tmp_path), "PUBLIC_ORIGIN": " https://CS.example.fi:8443/ "}
    assert Settings.from_env(env).public_origin == "https://cs.example.fi:8443"
    assert Settings.from_env({"CS_INSTANCE_PATH": str(tmp_path)}).public_origin is None


def test_a_printed_settings_shows_no_secret(tmp_path: Path) -> None:
    env = production_env(tmp_path / "instance")
    settings = Settings.from_env(env)
    shown = repr(settings)
    for secret in (settings.secret_key, settings.data_encryption_key, settings.blind_index_key):
        assert str(secret) not in shown
        assert repr(secret) not in shown
    assert "secret_key" not in shown


@pytest.mark.parametrize("version", ["²", "1" * 40, "x", ""])
def test_a_malformed_key_version_is_a_configuration_error(tmp_path: Path, version: str) -> None:
    env = production_env(tmp_path / "instance", DATA_ENCRYPTION_KEYS=f"{version}:{generate_key()}")
    with pytest.raises(ConfigurationError, match="DATA_ENCRYPTION_KEYS"):
        Settings.from_env(env)
