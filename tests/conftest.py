"""Shared fixtures: real databases (SQLite, or PostgreSQL with `--db=postgresql`), the app,
a controllable clock, and factories for staff, logins and customers.

Every test gets its own database: a copy of a migrated-once template file on SQLite, a
`CREATE DATABASE ... TEMPLATE` on PostgreSQL. Requests commit for real, so tests see exactly
what a deployment would.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app import create_app
from cs_register.config import DEVELOPMENT, ObjectStoreSettings, Settings, generate_key
from cs_register.config import _decode_key as decode_key
from cs_register.crypto import Keyring
from cs_register.db import Base, Database
from cs_register.permissions import Role
from cs_register.staff import services as staff_services
from cs_register.staff import sessions as staff_sessions
from cs_register.staff.models import StaffUser
from cs_register.staff.passwords import HashingCost, PasswordHashing

# Importing the models registers every table on Base.metadata.
from tests.support import models_registry  # noqa: F401
from tests.support.context import make_context
from tests.support.seaweedfs import S3Server, empty_prefix, running_seaweedfs

DEFAULT_PASSWORD = "correct horse battery staple"
# Real argon2id at a fraction of the production cost: hundreds of tests create accounts.
TEST_HASHING_COST = HashingCost(time_cost=1, memory_kib=1024, parallelism=1)
# What the test settings' runtime builds too; for services called outside an app.
TEST_HASHING = PasswordHashing(TEST_HASHING_COST)
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="database to run the suite on (postgresql starts a throwaway cluster)",
    )
    parser.addoption(
        "--storage",
        choices=("local", "s3"),
        default="local",
        help="recording storage of the app under test (s3 starts a SeaweedFS server)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"cs-register database leg: {config.getoption('--db')},"
        f" recording storage: {config.getoption('--storage')}"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "local_storage_only(reason): needs the local recording storage's files on disk;"
        " deselected with --storage=s3",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--storage") != "s3":
        return
    kept, deselected = [], []
    for item in items:
        (deselected if item.get_closest_marker("local_storage_only") else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@dataclass
class FrozenClock:
    """The app's clock in tests: it moves only when told to."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now

    def set(self, when: datetime) -> datetime:
        assert when.tzinfo is not None
        self.now = when
        return self.now


class DatabaseFactory:
    """Hands out fresh databases with the full schema (or empty ones for migration tests)."""

    def __init__(self, kind: str, workdir: Path, server_url: str | None) -> None:
        self.kind = kind
        self.workdir = workdir
        self.server_url = server_url
        self._counter = itertools.count()
        self._template: str | None = None

    def _admin(self) -> sa.Engine:
        assert self.server_url is not None
        return sa.create_engine(self.server_url, isolation_level="AUTOCOMMIT")

    def empty_url(self) -> str:
        n = next(self._counter)
        if self.kind == "sqlite":
            return f"sqlite:///{self.workdir / f'empty-{n}.sqlite3'}"
        name = f"cs_empty_{n}"
        engine = self._admin()
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
        engine.dispose()
        return self.server_url.rsplit("/", 1)[0] + f"/{name}"  # type: ignore[union-attr]

    def template_url(self) -> str:
        if self._template is None:
            url = self.empty_url()
            engine = sa.create_engine(url)
            Base.metadata.create_all(engine)
            engine.dispose()
            self._template = url
        return self._template

    def fresh_url(self) -> str:
        template = self.template_url()
        n = next(self._counter)
        if self.kind == "sqlite":
            source = Path(template.removeprefix("sqlite:///"))
            target = self.workdir / f"test-{n}.sqlite3"
            shutil.copyfile(source, target)
            return f"sqlite:///{target}"
        name = f"cs_test_{n}"
        template_name = template.rsplit("/", 1)[1]
        engine = self._admin()
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
        engine.dispose()
        return self.server_url.rsplit("/", 1)[0] + f"/{name}"  # type: ignore[union-attr]

    def drop(self, url: str) -> None:
        if self.kind == "postgresql":
            name = url.rsplit("/", 1)[1]
            engine = self._admin()
            with engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            engine.dispose()


@pytest.fixture(scope="session")
def database_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseFactory]:
    kind = request.config.getoption("--db")
    workdir = tmp_path_factory.mktemp("databases")
    if kind == "sqlite":
        yield DatabaseFactory("sqlite", workdir, None)
        return
    from tests.support.postgres import throwaway_cluster

    with throwaway_cluster() as server_url:
        yield DatabaseFactory("postgresql", workdir, server_url)


@pytest.fixture
def database_url(database_factory: DatabaseFactory) -> Iterator[str]:
    url = database_factory.fresh_url()
    yield url
    database_factory.drop(url)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def password_hashing() -> PasswordHashing:
    """The hashing the test settings' runtime builds, for services called outside an app."""
    return TEST_HASHING


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS server on loopback for the whole run, started on first use."""
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def s3_bucket(s3_server: S3Server) -> str:
    bucket = "cs-register-tests"
    s3_server.client().create_bucket(Bucket=bucket)
    return bucket


_prefixes = itertools.count()


@pytest.fixture
def object_store(request: pytest.FixtureRequest) -> Iterator[ObjectStoreSettings | None]:
    """With --storage=s3, the app's recordings go to a prefix of their own in the test bucket,
    emptied afterwards; otherwise None (the local folder)."""
    if request.config.getoption("--storage") != "s3":
        yield None
        return
    server: S3Server = request.getfixturevalue("s3_server")
    bucket: str = request.getfixturevalue("s3_bucket")
    prefix = f"app-{next(_prefixes)}"
    yield ObjectStoreSettings(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=server.endpoint_url,
        region=server.region,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
    )
    empty_prefix(server.client(), bucket, prefix + "/")


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, object_store: ObjectStoreSettings | None
) -> Settings:
    return Settings(
        env=DEVELOPMENT,
        secret_key=generate_key(),
        database_url=database_url,
        instance_path=tmp_path / "instance",
        data_encryption_key=decode_key("k", generate_key()),
        blind_index_key=decode_key("k", generate_key()),
        testing=True,
        password_hash_time_cost=TEST_HASHING_COST.time_cost,
        password_hash_memory_kib=TEST_HASHING_COST.memory_kib,
        password_hash_parallelism=TEST_HASHING_COST.parallelism,
        # CSRF is switched off for ordinary tests and proven separately (test_csrf.py).
        extra={"WTF_CSRF_ENABLED": False},
        # Most tests log in through a ready session (`login`) or the password form alone;
        # two-step login, required by default, is proven in tests/cs_register/staff/
        # test_two_step.py and in the browser.
        two_step_login="optional",
        object_storage=object_store,
        # Tests read the console in its source language; the Finnish and Swedish catalogs are
        # proven in tests/cs_register/test_languages.py.
        default_language="en",
    )


@pytest.fixture
def app(settings: Settings, clock: FrozenClock, database: Database) -> Flask:
    return create_app(settings, clock=clock, database=database)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def keyring(app: Flask) -> Keyring:
    return app.extensions["cs_register.keyring"]  # type: ignore[no-any-return]


@pytest.fixture
def db_session(database_url: str) -> Iterator[Session]:
    """A session for arranging and inspecting data directly; commit it yourself.

    Its SQLite transactions begin deferred, so a test that reads through it while the app
    writes through `database` does not hold the write lock the app is waiting for.
    """
    inspection = Database(database_url, sqlite_write_lock_at_begin=False)
    session = inspection.session_factory()
    yield session
    session.rollback()
    session.close()
    inspection.dispose()


@pytest.fixture
def make_staff(database: Database, clock: FrozenClock) -> Callable[..., StaffUser]:
    counter = itertools.count(1)

    def _make(
        role: Role | str = Role.AGENT,
        *,
        username: str | None = None,
        password: str = DEFAULT_PASSWORD,
        must_change_password: bool = False,
        active: bool = True,
    ) -> StaffUser:
        role = Role(role)
        with database.unit_of_work() as session:
            user = staff_services.create_user(
                make_context(session, None, clock.now),
                hashing=TEST_HASHING,
                username=username or f"{role.value}{next(counter)}",
                display_name=f"Test {role.label}",
                role=role,
                password=password,
                must_change_password=must_change_password,
            )
            user.is_active = active
        return user

    return _make


@dataclass
class LoginHelper:
    """Logs a staff member in by opening a real server-side session and setting the cookie."""

    database: Database
    clock: FrozenClock
    tokens: dict[int, str] = field(default_factory=dict)

    def __call__(self, client: FlaskClient, user: StaffUser) -> str:
        with self.database.unit_of_work() as session:
            fresh = session.get(StaffUser, user.id)
            assert fresh is not None
            token = staff_sessions.start_session(
                make_context(session, None, self.clock.now), user=fresh
            )
        with client.session_transaction() as cookie_session:
            cookie_session.clear()
            cookie_session["sid"] = token
            cookie_session["_user_id"] = str(user.id)
            cookie_session["_fresh"] = True
        self.tokens[user.id] = token
        return token


@pytest.fixture
def login(database: Database, clock: FrozenClock) -> LoginHelper:
    return LoginHelper(database, clock)


@pytest.fixture
def logged_in(
    client: FlaskClient, make_staff: Callable[..., StaffUser], login: LoginHelper
) -> Callable[[Role | str], StaffUser]:
    """`logged_in("supervisor")` creates a staff member of that role and logs `client` in."""

    def _as(role: Role | str) -> StaffUser:
        user = make_staff(role)
        login(client, user)
        return user

    return _as


@pytest.fixture
def make_customer(
    database: Database, keyring: Keyring, clock: FrozenClock, make_staff: Callable[..., StaffUser]
) -> Callable[..., Any]:
    """Create a customer through the real service (validation, encryption, audit)."""
    from cs_register.customers import services as customer_services

    creator: list[StaffUser] = []

    def _make(**fields: str) -> Any:
        if not creator:
            creator.append(make_staff(Role.AGENT, username="customer-creator"))
        form = {"given_names": "Matti", "family_name": "Meikäläinen", **fields}
        with database.unit_of_work() as session:
            actor = session.get(StaffUser, creator[0].id)
            return customer_services.create_customer(
                make_context(session, actor, clock.now), keyring, form=form
            )

    return _make
