"""Database plumbing: the declarative base, UTC timestamps, and the per-request unit of work.

Services receive a `Session` and only ever `flush()`. The request (see `init_app`) or the job
entry point commits once; an error anywhere rolls the whole unit back, so a failed request
leaves no half-written rows behind.

On SQLite, application transactions begin `BEGIN IMMEDIATE` and the writers of every process
take turns on a file lock beside the database (`_QueuedWriterConnection`); `Database.read_only`
sessions, and a transaction a session begins with `reading`, read without taking a turn. So a
console request commits early twice, each time only what it wrote since it began: the session
check's own change (`staff.login`), and a customer search's audit row after its read
(`customers.search.run_console_search`).
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import logging
import os
import sqlite3
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from flask import Flask, g
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    InstrumentedAttribute,
    Mapped,
    Session,
    mapped_column,
    sessionmaker,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    SQLite has no time zones; PostgreSQL has them. Storing naive datetimes and guessing later is
    how retention cut-offs drift by hours, so naive values are refused outright.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text, so store them without an offset suffix.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def str_enum(
    enum_class: type[enum.Enum], name: str, *, checked: bool = True, length: int | None = None
) -> sa.Enum:
    """Persist an enum by value as a VARCHAR: portable and migration-friendly.

    `checked=False` leaves out the CHECK constraint for enums that grow with every feature
    (audit actions), so adding a member never needs a table rebuild.
    """
    return sa.Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=checked,
        length=length or max(len(str(member.value)) for member in enum_class),
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def new_public_id() -> str:
    """Identifiers shown in URLs: random, so they reveal neither counts nor order."""
    return str(uuid.uuid4())


class PublicIdentified:
    """A row with a public id besides its key: the key stays in the database, the public id
    is the one that goes out (URLs, the audit trail, exports, job arguments)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_public_id)


def utcnow() -> datetime:
    return datetime.now(UTC)


# Execution option marking the connections of `Database.read_only` sessions.
READ_ONLY_OPTION = "cs_register_read_only"
# The writers' lock file sits beside the database file: `<database>-writers.lock`.
WRITER_LOCK_SUFFIX = "-writers.lock"
# How long a SQLite writer waits for its turn: SQLite's own busy timeout, which it replaces.
SQLITE_WRITER_TIMEOUT_SECONDS = 30.0
_WRITER_POLL_FIRST = 0.00005
_WRITER_POLL_MAX = 0.001


class _QueuedWriterConnection(sqlite3.Connection):
    """A pysqlite connection whose write transactions take turns on an OS file lock.

    SQLite lets one writer at a time through. A writer that finds the database locked sleeps
    in SQLite's busy handler for 1, 2, 5, 10... ms between attempts, so under load the write
    lock sits idle while the waiters sleep, and the worker that just committed wins again.
    Waiting on `flock` of a file beside the database hands the turn over within a fraction
    of a millisecond instead. This only orders the writers of this application (web workers,
    RQ workers, commands); SQLite's own locking still guarantees correctness.
    """

    _writer_lock_fd: int | None = None
    _close_writer_lock: weakref.finalize[Any, Any] | None = None
    _holds_writer_lock = False

    def attach_writer_lock(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._writer_lock_fd = fd
        # A connection dropped without close() must not leak the descriptor.
        self._close_writer_lock = weakref.finalize(self, os.close, fd)

    def take_writer_turn(self) -> None:
        """Wait for this connection's turn to write; `sqlite3.OperationalError` after 30 s."""
        if self._writer_lock_fd is None or self._holds_writer_lock:
            return
        deadline = time.monotonic() + SQLITE_WRITER_TIMEOUT_SECONDS
        # Polled rather than blocking, so the wait stays bounded; the pauses stay short
        # because a turn usually lasts about a millisecond.
        pause = _WRITER_POLL_FIRST
        while True:
            try:
                fcntl.flock(self._writer_lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    # What SQLite itself says when its busy timeout runs out.
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(pause)
                pause = min(pause * 2, _WRITER_POLL_MAX)
            else:
                self._holds_writer_lock = True
                return

    def end_writer_turn(self) -> None:
        if self._holds_writer_lock and self._writer_lock_fd is not None:
            fcntl.flock(self._writer_lock_fd, fcntl.LOCK_UN)
            self._holds_writer_lock = False

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_writer_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_writer_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_writer_turn()
            if self._close_writer_lock is not None:
                self._close_writer_lock()
            self._writer_lock_fd = None


def _sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for an in-memory database."""
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _create_private_file(path: str) -> None:
    """Create the database file readable by its owner only, before SQLite would create it
    with the process's umask; SQLite gives its WAL and shared-memory files the database
    file's permissions, so they are private too."""
    directory = os.path.dirname(path)
    if directory and os.path.isdir(directory):
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


def create_db_engine(url: str, *, sqlite_write_lock_at_begin: bool = True) -> Engine:
    if url.startswith("sqlite"):
        if (private := _sqlite_file(url)) is not None:
            _create_private_file(private)
        connect_args: dict[str, Any] = {"timeout": 30}
        database_file = _sqlite_file(url) if sqlite_write_lock_at_begin else None
        if database_file is not None:
            connect_args["factory"] = _QueuedWriterConnection
        engine = sa.create_engine(url, connect_args=connect_args)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            if sqlite_write_lock_at_begin:
                # We issue BEGIN ourselves (below), so pysqlite's implicit one must stay out.
                dbapi_connection.isolation_level = None
            if database_file is not None:
                # Never a second descriptor on the database file itself: closing it would
                # drop the POSIX locks SQLite holds on that file.
                dbapi_connection.attach_writer_lock(database_file + WRITER_LOCK_SUFFIX)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            # WAL lets the worker purge while the console reads.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        if sqlite_write_lock_at_begin:

            @event.listens_for(engine, "begin")
            def _begin_immediate(connection: Any) -> None:
                if connection.get_execution_options().get(READ_ONLY_OPTION):
                    connection.exec_driver_sql("BEGIN")
                    return
                # Nearly every unit of work writes (if only its audit row). A transaction that
                # reads first cannot later become a writer while another process (the web app
                # and the RQ worker share the file) has written: SQLite fails it at once with
                # "database is locked" instead of waiting. Taking the write lock at BEGIN makes
                # writers queue for their turn instead (see _QueuedWriterConnection).
                queued = connection.connection.dbapi_connection
                if not isinstance(queued, _QueuedWriterConnection):
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                    return
                try:
                    queued.take_writer_turn()
                except sqlite3.OperationalError as error:
                    # Shaped like every other database error, for callers and error pages.
                    raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, error) from None
                try:
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                except BaseException:
                    queued.end_writer_turn()
                    raise

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class Database:
    """The engine and session factory of one application (or one job process)."""

    def __init__(self, url: str, *, sqlite_write_lock_at_begin: bool = True) -> None:
        """`sqlite_write_lock_at_begin=False` keeps pysqlite's own transaction handling, for
        inspection sessions (tests) that must not hold SQLite's single write lock while the
        application works."""
        self.url = url
        self.engine = create_db_engine(url, sqlite_write_lock_at_begin=sqlite_write_lock_at_begin)
        self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        event.listen(self.session_factory, "after_commit", _run_commit_actions)
        event.listen(self.session_factory, "after_rollback", _run_rollback_actions)
        self._read_only_factory = sessionmaker(
            bind=self.engine.execution_options(**{READ_ONLY_OPTION: True}),
            expire_on_commit=False,
        )

    @contextmanager
    def read_only(self) -> Iterator[Session]:
        """A short session for reads that must not wait for, or block, the writers.

        On SQLite its transaction begins deferred, so it never takes the write lock (WAL
        readers see the last commit). Nothing written through it is ever committed.
        """
        session = self._read_only_factory()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session that commits once at the end, or rolls back if anything raised."""
        session = self.session_factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


_ROLLBACK_ACTIONS = "cs_register.on_rollback"
_COMMIT_ACTIONS = "cs_register.on_commit"


def on_rollback(session: Session, action: Callable[[], object]) -> None:
    """Run `action` if the session's transaction rolls back instead of committing.

    Used to remove a file written during a unit of work whose rows never made it to the
    database, so a failed request leaves no orphan files behind.
    """
    session.info.setdefault(_ROLLBACK_ACTIONS, []).append(action)


def on_commit(session: Session, action: Callable[[], object]) -> None:
    """Run `action` once the session's transaction has committed; never if it rolls back.

    Used for log lines that report a change: they must not claim what was rolled back, and
    on SQLite they are written after the writers' turn has passed on.
    """
    session.info.setdefault(_COMMIT_ACTIONS, []).append(action)


def _run_commit_actions(session: Session) -> None:
    session.info.pop(_ROLLBACK_ACTIONS, None)
    for action in session.info.pop(_COMMIT_ACTIONS, []):
        try:
            action()
        except Exception:
            # The transaction is committed; a failed follow-up must not turn it into an error.
            logging.getLogger(__name__).exception("after-commit action failed")


def _run_rollback_actions(session: Session) -> None:
    session.info.pop(_COMMIT_ACTIONS, None)
    for action in session.info.pop(_ROLLBACK_ACTIONS, []):
        try:
            action()
        except Exception:
            # The rollback itself must still complete; reconciliation finds what is left.
            logging.getLogger(__name__).exception("rollback clean-up action failed")


def get_database(app: Flask) -> Database:
    database: Database = app.extensions["cs_register.db"]
    return database


def get_session() -> Session:
    """The request's session, opened on first use."""
    if "db_session" not in g:
        from flask import current_app

        g.db_session = get_database(current_app).session_factory()
    session: Session = g.db_session
    return session


@contextmanager
def reading(session: Session) -> Iterator[Session]:
    """What the block reads through `session`, in a read-only transaction of its own that ends
    with the block; the session's next transaction begins as usual (on SQLite: immediate).

    On SQLite it begins deferred, so however long the read takes it neither takes nor waits
    for the writers' turn (`_QueuedWriterConnection`). Unlike `Database.read_only`, the rows
    stay in `session`, loaded: the read ends with a commit that has nothing to write, and the
    session does not expire what it holds on commit. `session` must have no transaction open
    and the block must change nothing through it (the change would be a write in a deferred
    transaction, which SQLite may refuse at once instead of queueing it).
    """
    if session.in_transaction():
        raise RuntimeError("reading() must begin the session's transaction, not join one")
    session.connection(execution_options={READ_ONLY_OPTION: True})
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    if session.new or session.dirty or session.deleted:
        session.rollback()
        raise RuntimeError("something was changed in a read-only transaction")
    session.commit()


def mark_request_failed() -> None:
    """Called by the error handlers: whatever the request wrote must not be committed."""
    g.db_request_failed = True
    session: Session | None = g.get("db_session")
    if session is not None:
        session.rollback()


def init_app(app: Flask, database: Database) -> None:
    app.extensions["cs_register.db"] = database

    @app.after_request
    def _commit_unit_of_work(response: Any) -> Any:
        session: Session | None = g.get("db_session")
        if session is not None and not g.get("db_request_failed"):
            # A failed commit propagates to the 500 handler, which rolls back.
            session.commit()
        return response

    @app.teardown_request
    def _close_session(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


def affected_rows(session: Session, statement: sa.Executable) -> int:
    """Run a bulk UPDATE or DELETE in `session`'s transaction; how many rows it touched."""
    result = session.execute(statement)
    return int(getattr(result, "rowcount", 0))


def next_ids(
    session: Session,
    id_column: InstrumentedAttribute[int],
    *where: sa.ColumnElement[bool],
    after_id: int,
    limit: int,
    lock: bool,
) -> list[int]:
    """A sweep's next batch: up to `limit` ids of `id_column`'s rows matching `where`, in id
    order after `after_id`; with `lock`, locked for deletion (a second sweep running at once
    skips them rather than deleting them twice)."""
    query = (
        sa.select(id_column).where(*where, id_column > after_id).order_by(id_column).limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


class IdsPast(Protocol):
    def __call__(
        self,
        session: Session,
        *,
        due_before: datetime,
        after_id: int,
        limit: int,
        lock: bool = True,
    ) -> list[int]: ...


def ids_past(
    id_column: InstrumentedAttribute[int], time_column: InstrumentedAttribute[datetime]
) -> IdsPast:
    """A sweep's batches of a table's rows past their time (`time_column` at or before
    `due_before`): `next_ids` of them."""

    def past_their_time(
        session: Session, *, due_before: datetime, after_id: int, limit: int, lock: bool = True
    ) -> list[int]:
        return next_ids(
            session,
            id_column,
            time_column <= due_before,
            after_id=after_id,
            limit=limit,
            lock=lock,
        )

    return past_their_time
