"""The unit of work under concurrency: two writers on one database never fail each other,
SQLite writers take turns on the queue lock, and read-only sessions stay out of their way."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import db as db_module
from cs_register.db import WRITER_LOCK_SUFFIX, Base, Database

INSERT_AUDIT_ROW = sa.text(
    "INSERT INTO audit_events (occurred_at, actor_label, action, details)"
    " VALUES (:at, :label, 'login', '{}')"
)


def _read_then_write(
    database: Database,
    label: str,
    *,
    after_read: threading.Event,
    before_write: threading.Event,
    errors: list[BaseException],
) -> None:
    try:
        with database.unit_of_work() as session:
            session.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one()
            after_read.set()
            # Gives the other writer its chance to run in between (with a deferred BEGIN on
            # SQLite that is exactly what made the second writer fail).
            before_write.wait(timeout=1)
            session.execute(INSERT_AUDIT_ROW, {"at": datetime.now(UTC), "label": label})
    except BaseException as error:  # collected and asserted on below
        errors.append(error)


def test_two_units_of_work_that_read_then_write_both_commit(database_url):
    first, second = Database(database_url), Database(database_url)
    first_read, first_done = threading.Event(), threading.Event()
    second_read = threading.Event()
    errors: list[BaseException] = []

    def run_first() -> None:
        _read_then_write(
            first, "first", after_read=first_read, before_write=second_read, errors=errors
        )
        first_done.set()

    def run_second() -> None:
        first_read.wait(timeout=5)
        _read_then_write(
            second, "second", after_read=second_read, before_write=first_done, errors=errors
        )

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        with first.engine.connect() as connection:
            labels = connection.execute(sa.text("SELECT actor_label FROM audit_events")).scalars()
            assert sorted(labels) == ["first", "second"]
    finally:
        first.dispose()
        second.dispose()


# --- SQLite: writers take turns on a file lock; read-only sessions do not ---------------------
# These build their own SQLite file whatever `--db` says: the queue exists only on SQLite.


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'queue.sqlite3'}"
    database = Database(url)
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


def _queue_is_free(database: Database) -> bool:
    """Whether another process could take the writers' turn right now."""
    path = f"{sa.engine.make_url(database.url).database}{WRITER_LOCK_SUFFIX}"
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def _write(session: Session, label: str) -> None:
    session.execute(INSERT_AUDIT_ROW, {"at": datetime.now(UTC), "label": label})


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_a_unit_of_work_holds_the_writers_turn_until_it_ends(sqlite_database, ending):
    session = sqlite_database.session_factory()
    try:
        session.execute(sa.text("SELECT 1"))  # even a first read takes the turn
        assert not _queue_is_free(sqlite_database)
        _write(session, "holder")
        getattr(session, ending)()
        assert _queue_is_free(sqlite_database)
    finally:
        session.close()


def test_a_second_writer_waits_for_the_first_to_commit(sqlite_database, tmp_path):
    other = Database(sqlite_database.url)
    holding, waiting_started, second_wrote = (threading.Event() for _ in range(3))
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            holding.wait(timeout=5)
            waiting_started.set()
            with other.unit_of_work() as session:
                _write(session, "second")
            second_wrote.set()
        except BaseException as error:  # asserted on below
            errors.append(error)

    thread = threading.Thread(target=second_writer)
    thread.start()
    try:
        with sqlite_database.unit_of_work() as session:
            _write(session, "first")
            holding.set()
            waiting_started.wait(timeout=5)
            # The second writer is stuck behind this open transaction, not failing.
            assert not second_wrote.wait(timeout=0.3)
        thread.join(timeout=30)
        assert errors == []
        assert second_wrote.is_set()
        with sqlite_database.read_only() as reader:
            labels = reader.execute(sa.text("SELECT actor_label FROM audit_events ORDER BY id"))
            assert list(labels.scalars()) == ["first", "second"]
    finally:
        other.dispose()


def test_a_writer_that_gets_no_turn_fails_as_locked(sqlite_database, monkeypatch):
    monkeypatch.setattr(db_module, "SQLITE_WRITER_TIMEOUT_SECONDS", 0.2)
    path = f"{sa.engine.make_url(sqlite_database.url).database}{WRITER_LOCK_SUFFIX}"
    with sqlite_database.unit_of_work() as session:
        session.execute(sa.text("SELECT 1"))  # creates the lock file with the first connection
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process holding its turn, and never letting go
    try:
        with (
            pytest.raises(sa.exc.OperationalError, match="database is locked"),
            sqlite_database.unit_of_work() as session,
        ):
            _write(session, "never")
    finally:
        os.close(fd)
    with sqlite_database.read_only() as reader:
        assert reader.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one() == 0


def test_read_only_sessions_neither_wait_for_nor_block_a_writer(sqlite_database):
    with sqlite_database.unit_of_work() as session:
        _write(session, "committed")
    writer = sqlite_database.session_factory()
    try:
        _write(writer, "uncommitted")
        with sqlite_database.read_only() as reader:
            # Answered at once from the last commit, while the writer holds its turn.
            labels = reader.execute(sa.text("SELECT actor_label FROM audit_events"))
            assert list(labels.scalars()) == ["committed"]
        writer.commit()
    finally:
        writer.close()
    with sqlite_database.read_only() as reader:
        reader.execute(sa.text("SELECT 1"))
        assert _queue_is_free(sqlite_database)


def test_read_only_sessions_never_commit(database_url):
    database = Database(database_url)
    try:
        with database.read_only() as reader:
            _write(reader, "discarded")
        with database.read_only() as reader:
            count = reader.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one()
            assert count == 0
    finally:
        database.dispose()
