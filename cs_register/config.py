"""Typed application settings, read from the environment (12-factor).

Nothing here is read at import time: `Settings.from_env()` is called by the app factory, the
job entry points and the CLI, each with the environment it was given.

Secrets (the Flask secret key and the two data keys) are never hard-coded. In development they
are generated once into the instance folder with mode 0600 so a fresh clone runs with one
command; in production a missing secret stops start-up with a message naming the variable.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from cs_register.languages import DEFAULT_LANGUAGE, LANGUAGES

# The privacy statement promises "at most 12 months" for held recordings; no configuration may
# lift the cap above it.
MAX_HOLD_CAP_MONTHS = 12

DEVELOPMENT = "development"
PRODUCTION = "production"


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable deployment; the message says why."""


SERVER_SIDE_ENCRYPTION = ("AES256", "aws:kms")


@dataclass(frozen=True)
class ObjectStoreSettings:
    """Where recordings are kept in an S3-compatible object store (`RECORDING_STORAGE_URL`).

    The credentials are optional: without them boto3 finds its own (the `AWS_*` variables, an
    instance or container role). The secret is left out of `repr`, so a logged or printed
    Settings never shows it.
    """

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    # "AES256" (keys managed by the store) or "aws:kms" (optionally with a key id); None asks
    # for nothing and leaves it to the bucket's default encryption.
    server_side_encryption: str | None = None
    kms_key_id: str | None = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@dataclass(frozen=True)
class Settings:
    """Everything the application needs to know about its deployment."""

    env: str
    # Secrets never show in a printed or logged Settings (repr).
    secret_key: str = field(repr=False)
    database_url: str
    instance_path: Path
    data_encryption_key: bytes = field(repr=False)
    blind_index_key: bytes = field(repr=False)
    # Later master key versions (2, 3, ...) by number: `DATA_ENCRYPTION_KEYS` and the key
    # folder's `data_encryption_key.v<N>` files (`flask keys rotate`). Version 1 is the pair
    # above; the highest version encrypts new data (`cs_register.crypto`).
    later_key_versions: Mapping[int, bytes] = field(default_factory=dict, repr=False)
    # Recordings sealed at rest (`recordings.sealing`); off only for measuring its cost.
    recording_encryption: bool = True
    # Whether recordings stored before sealing (plaintext) are still read; off once
    # `flask keys rotate` has sealed them all, so an object without a header is refused.
    recording_read_plaintext: bool = True
    # None means "start the embedded Redis server" (development runner only).
    redis_url: str | None = None
    recording_storage_path: Path | None = None
    # None keeps recordings in the local folder (`storage_root`); otherwise in an object store,
    # with `storage_root` as the local scratch area uploads are staged and validated in.
    object_storage: ObjectStoreSettings | None = None
    session_idle_timeout: timedelta = timedelta(minutes=30)
    session_absolute_lifetime: timedelta = timedelta(hours=12)
    retention_months: int = 3
    hold_cap_months: int = MAX_HOLD_CAP_MONTHS
    max_upload_bytes: int = 200 * 1024 * 1024
    rq_failure_ttl_seconds: int = 7 * 24 * 3600
    rq_result_ttl_seconds: int = 24 * 3600
    sweep_interval_minutes: int = 5
    # How long a data-subject export (access, portability) stays downloadable.
    privacy_export_days: int = 7
    # How long contacts (with their texts, calls and checks) are kept after they occurred.
    contact_retention_days: int = 180
    # How long the audit trail is kept (calendar years after each event).
    audit_retention_years: int = 5
    # Two-step login (cs_register.staff.two_step): "required" makes every staff member enrol
    # an authenticator at their first login; "optional" asks only those who enrolled.
    two_step_login: str = "required"
    # The console's language for staff who have not chosen their own (cs_register.languages).
    default_language: str = DEFAULT_LANGUAGE
    # Where staff reach the console, e.g. "https://asiakaspalvelu.example.fi": passkeys are
    # bound to its host name. None takes the host of each request (development).
    public_origin: str | None = None
    # The bearer token the monitoring system scrapes /metrics with; None: no /metrics.
    metrics_token: str | None = None
    # How many proxies (load balancers) stand in front of the app and append to
    # X-Forwarded-For: the client's address is the one the nearest of them saw. 0: none, the
    # connection's own address is the client's (a client's own header is never believed).
    proxy_hops: int = 0
    # The prohibitions and consent purposes customer service records (cs_register.consents).
    prohibitions: tuple[str, ...] = ("direct_marketing",)
    consent_purposes: tuple[str, ...] = ("newsletter", "customer_surveys")
    # argon2id cost; the defaults are argon2-cffi's RFC 9106 low-memory profile.
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 64 * 1024
    password_hash_parallelism: int = 4
    # Secure cookies need HTTPS; development serves plain HTTP on 127.0.0.1.
    cookie_secure: bool = False
    testing: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.data_encryption_key) != 32:
            raise ConfigurationError("DATA_ENCRYPTION_KEY must decode to exactly 32 bytes")
        if len(self.blind_index_key) < 32:
            raise ConfigurationError("BLIND_INDEX_KEY must decode to at least 32 bytes")
        if self.data_encryption_key == self.blind_index_key:
            raise ConfigurationError("DATA_ENCRYPTION_KEY and BLIND_INDEX_KEY must differ")
        if not 1 <= self.retention_months <= self.hold_cap_months:
            raise ConfigurationError("RETENTION_MONTHS must be between 1 and HOLD_CAP_MONTHS")
        if self.hold_cap_months > MAX_HOLD_CAP_MONTHS:
            raise ConfigurationError(
                f"HOLD_CAP_MONTHS may not exceed {MAX_HOLD_CAP_MONTHS}"
                " (the cap promised in the privacy statement)"
            )
        if self.env == PRODUCTION and (
            self.password_hash_time_cost < 2 or self.password_hash_memory_kib < 19 * 1024
        ):
            # OWASP's floor for argon2id; anything cheaper is for test suites only.
            raise ConfigurationError(
                "production requires PASSWORD_HASH_TIME_COST >= 2 and"
                " PASSWORD_HASH_MEMORY_KIB >= 19456"
            )
        if self.env == PRODUCTION and not self.cookie_secure:
            raise ConfigurationError("production requires COOKIE_SECURE=1 (HTTPS only)")
        if self.default_language not in LANGUAGES:
            raise ConfigurationError(
                "DEFAULT_LANGUAGE must be one of " + ", ".join(sorted(LANGUAGES))
            )
        if self.env == PRODUCTION and self.two_step_login != "required":
            # The privacy statement promises two-step login; "optional" is for development.
            raise ConfigurationError("production requires TWO_STEP_LOGIN=required")

    @property
    def is_production(self) -> bool:
        return self.env == PRODUCTION

    @property
    def storage_root(self) -> Path:
        return self.recording_storage_path or self.instance_path / "recordings"

    @property
    def export_root(self) -> Path:
        # Apart from the recordings, whose reconciliation would take exports for orphans.
        return self.instance_path / "privacy-exports"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, instance_path: Path | None = None
    ) -> Settings:
        env = dict(os.environ if environ is None else environ)
        mode = env.get("CS_ENV", DEVELOPMENT).strip().lower()
        if mode not in (DEVELOPMENT, PRODUCTION):
            raise ConfigurationError("CS_ENV must be 'development' or 'production'")
        instance = Path(env.get("CS_INSTANCE_PATH") or instance_path or Path.cwd() / "instance")
        instance = instance.resolve()

        def secret(name: str, generate: int) -> str:
            value = env.get(name, "").strip()
            if value and mode == PRODUCTION and len(value.encode()) < generate:
                # A short session-signing key can be guessed offline from one cookie.
                raise ConfigurationError(f"{name} must be at least {generate} bytes long")
            if value:
                return value
            if mode == PRODUCTION:
                raise ConfigurationError(
                    f"{name} is not set; production refuses to start without it"
                )
            return _development_secret(instance, name, generate)

        database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'cs_register.sqlite3'}"
        storage = env.get("RECORDING_STORAGE_PATH")
        object_storage = _object_storage(env, production=mode == PRODUCTION)
        return cls(
            env=mode,
            secret_key=secret("SECRET_KEY", 32),
            database_url=database_url,
            instance_path=instance,
            data_encryption_key=_decode_key(
                "DATA_ENCRYPTION_KEY", secret("DATA_ENCRYPTION_KEY", 32)
            ),
            blind_index_key=_decode_key("BLIND_INDEX_KEY", secret("BLIND_INDEX_KEY", 32)),
            later_key_versions=later_key_versions(env, instance),
            recording_encryption=_flag(env, "RECORDING_ENCRYPTION", True),
            recording_read_plaintext=_flag(env, "RECORDING_READ_PLAINTEXT", True),
            redis_url=env.get("REDIS_URL") or None,
            recording_storage_path=Path(storage) if storage else None,
            object_storage=object_storage,
            session_idle_timeout=timedelta(
                minutes=_int(env, "SESSION_IDLE_TIMEOUT_MINUTES", 30, minimum=1)
            ),
            session_absolute_lifetime=timedelta(
                hours=_int(env, "SESSION_ABSOLUTE_LIFETIME_HOURS", 12, minimum=1)
            ),
            retention_months=_int(env, "RETENTION_MONTHS", 3, minimum=1),
            hold_cap_months=_int(env, "HOLD_CAP_MONTHS", MAX_HOLD_CAP_MONTHS, minimum=1),
            max_upload_bytes=_int(env, "MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1024),
            sweep_interval_minutes=_int(env, "SWEEP_INTERVAL_MINUTES", 5, minimum=1),
            privacy_export_days=_int(env, "PRIVACY_EXPORT_DAYS", 7, minimum=1),
            contact_retention_days=_int(env, "CONTACT_RETENTION_DAYS", 180, minimum=1),
            audit_retention_years=_int(env, "AUDIT_RETENTION_YEARS", 5, minimum=1),
            two_step_login=_choice(env, "TWO_STEP_LOGIN", "required", ("required", "optional")),
            default_language=_choice(env, "DEFAULT_LANGUAGE", DEFAULT_LANGUAGE, tuple(LANGUAGES)),
            public_origin=_origin(env, "PUBLIC_ORIGIN"),
            metrics_token=_metrics_token(env),
            proxy_hops=_int(env, "PROXY_HOPS", 0, minimum=0),
            prohibitions=_names(env, "PROHIBITIONS", ("direct_marketing",)),
            consent_purposes=_names(env, "CONSENT_PURPOSES", ("newsletter", "customer_surveys")),
            rq_failure_ttl_seconds=_int(env, "RQ_FAILURE_TTL_SECONDS", 7 * 24 * 3600, minimum=60),
            rq_result_ttl_seconds=_int(env, "RQ_RESULT_TTL_SECONDS", 24 * 3600, minimum=0),
            password_hash_time_cost=_int(env, "PASSWORD_HASH_TIME_COST", 3, minimum=1),
            password_hash_memory_kib=_int(env, "PASSWORD_HASH_MEMORY_KIB", 64 * 1024, minimum=64),
            password_hash_parallelism=_int(env, "PASSWORD_HASH_PARALLELISM", 4, minimum=1),
            cookie_secure=env.get("COOKIE_SECURE", "1" if mode == PRODUCTION else "0") == "1",
        )


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in allowed:
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _metrics_token(env: Mapping[str, str]) -> str | None:
    token = env.get("METRICS_TOKEN", "").strip()
    if not token:
        return None
    if len(token) < 32:
        raise ConfigurationError("METRICS_TOKEN must be at least 32 characters long")
    return token


_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?")


def _origin(env: Mapping[str, str], name: str) -> str | None:
    """A scheme, host name and optional port (`https://cs.example.fi`), or None when unset."""
    raw = env.get(name, "").strip().lower().rstrip("/")
    if not raw:
        return None
    if not _ORIGIN.fullmatch(raw):
        raise ConfigurationError(f"{name} must look like https://host.example, got {raw!r}")
    return raw


# S3's bucket naming rules (3-63 characters, lower case, digits, dots and hyphens), and a
# prefix of plain path segments: nothing that needs escaping or could climb out with "..".
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
_ENDPOINT = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?")


def _object_storage(env: Mapping[str, str], *, production: bool) -> ObjectStoreSettings | None:
    """`RECORDING_STORAGE_URL=s3://bucket/prefix` and the `RECORDING_S3_*` options, or None
    for the local folder. Messages name the variable, never a credential's value."""
    url = env.get("RECORDING_STORAGE_URL", "").strip()
    if not url:
        return None
    if not url.startswith("s3://"):
        raise ConfigurationError("RECORDING_STORAGE_URL must be s3://bucket[/prefix] or unset")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ConfigurationError(
            "RECORDING_STORAGE_URL: the bucket must be 3-63 lower-case letters, digits, dots"
            f" or hyphens, got {bucket!r}"
        )
    if prefix and (not _PREFIX.fullmatch(prefix) or ".." in prefix.split("/")):
        raise ConfigurationError(
            "RECORDING_STORAGE_URL: the prefix must be path segments of letters, digits,"
            f" '.', '_' and '-', got {prefix!r}"
        )
    endpoint = env.get("RECORDING_S3_ENDPOINT_URL", "").strip() or None
    if endpoint is not None:
        if not _ENDPOINT.fullmatch(endpoint):
            # Credentials belong in their own variables, never in the URL.
            raise ConfigurationError(
                "RECORDING_S3_ENDPOINT_URL must look like https://host[:port], without a path"
                " or credentials"
            )
        if production and not endpoint.startswith("https://"):
            # Audio and request signatures would cross the network in the clear.
            raise ConfigurationError("production requires an https:// RECORDING_S3_ENDPOINT_URL")
    access_key = env.get("RECORDING_S3_ACCESS_KEY_ID", "").strip() or None
    secret = env.get("RECORDING_S3_SECRET_ACCESS_KEY", "").strip() or None
    if (access_key is None) != (secret is None):
        raise ConfigurationError(
            "RECORDING_S3_ACCESS_KEY_ID and RECORDING_S3_SECRET_ACCESS_KEY go together:"
            " set both, or neither to use the environment's own AWS credentials"
        )
    encryption = env.get("RECORDING_S3_SERVER_SIDE_ENCRYPTION", "").strip() or None
    if encryption is not None and encryption not in SERVER_SIDE_ENCRYPTION:
        raise ConfigurationError(
            f"RECORDING_S3_SERVER_SIDE_ENCRYPTION must be AES256 or aws:kms, got {encryption!r}"
        )
    kms_key = env.get("RECORDING_S3_KMS_KEY_ID", "").strip() or None
    if kms_key is not None and encryption != "aws:kms":
        raise ConfigurationError(
            "RECORDING_S3_KMS_KEY_ID needs RECORDING_S3_SERVER_SIDE_ENCRYPTION=aws:kms"
        )
    return ObjectStoreSettings(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint.rstrip("/") if endpoint else None,
        region=env.get("RECORDING_S3_REGION", "").strip() or None,
        access_key_id=access_key,
        secret_access_key=secret,
        server_side_encryption=encryption,
        kms_key_id=kms_key,
    )


_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _names(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of names (`direct_marketing, telephone_sales`)."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    for value in names:
        if not _NAME.fullmatch(value):
            raise ConfigurationError(
                f"{name}: {value!r} is not a name (lower-case letters, digits and _, at most 64)"
            )
    return names


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw not in ("0", "1"):
        raise ConfigurationError(f"{name} must be 1 or 0, got {raw!r}")
    return raw == "1"


KEY_VERSION_FILE = "data_encryption_key.v{}"
_KEY_VERSION_FILE = re.compile(r"data_encryption_key\.v([0-9]{1,3})")


def later_key_versions(env: Mapping[str, str], instance: Path) -> dict[int, bytes]:
    """Master key versions 2 and up: `DATA_ENCRYPTION_KEYS=2:<key>,3:<key>` and the files
    `data_encryption_key.v<N>` in the instance's key folder. A version given twice must be
    the same key. Messages name the version, never a key."""
    versions: dict[int, bytes] = {}

    def add(version: int, value: str, where: str) -> None:
        if not 2 <= version <= 255:
            raise ConfigurationError(f"{where}: key versions run from 2 to 255, got {version}")
        key = _decode_key(where, value.strip())
        if len(key) != 32:
            raise ConfigurationError(f"{where}: key version {version} must be 32 bytes")
        if versions.setdefault(version, key) != key:
            raise ConfigurationError(f"key version {version} is configured twice, differently")

    for part in env.get("DATA_ENCRYPTION_KEYS", "").split(","):
        if not part.strip():
            continue
        number, _, value = part.partition(":")
        # ASCII digits only: "²" passes str.isdigit() and then breaks int().
        digits = number.strip()
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 3 or not value.strip():
            raise ConfigurationError("DATA_ENCRYPTION_KEYS must be <version>:<key>[,...]")
        add(int(digits), value, "DATA_ENCRYPTION_KEYS")
    folder = instance / "keys"
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            match = _KEY_VERSION_FILE.fullmatch(path.name)
            if match:
                add(int(match.group(1)), path.read_text(encoding="ascii"), path.name)
    return versions


def write_key_version(instance: Path, version: int) -> Path:
    """Create key version `version` in the instance's key folder: random, mode 0600, and
    O_EXCL so an existing version is never overwritten. Returns the file's path."""
    folder = instance / "keys"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / KEY_VERSION_FILE.format(version)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(generate_key(32) + "\n")
    return path


def _decode_key(name: str, value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value.encode("ascii") + b"=" * (-len(value) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ConfigurationError(f"{name} must be URL-safe base64") from None


def generate_key(length: int = 32) -> str:
    """A fresh random key in the encoding the settings expect."""
    return base64.urlsafe_b64encode(secrets.token_bytes(length)).decode("ascii").rstrip("=")


def _development_secret(instance: Path, name: str, length: int) -> str:
    """Read a development secret from the instance folder, creating it (0600) on first use."""
    keys = instance / "keys"
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = keys / name.lower()
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    value = generate_key(length)
    # O_EXCL: two processes starting at once must not overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    return value
