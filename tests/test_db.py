"""The unit of work under concurrency: two writers on one database never fail each other."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import sqlalchemy as sa

from cs_register.db import Database

INSERT_AUDIT_ROW = sa.text(
    "INSERT INTO audit_events (occurred_at, actor_label, action, details)"
    " VALUES (:at, :label, 'login', '{}')"
)


def _read_then_write(
    database: Database, label: str, *, after_read: threading.Event, before_write: threading.Event,
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
        _read_then_write(first, "first", after_read=first_read, before_write=second_read,
                         errors=errors)
        first_done.set()

    def run_second() -> None:
        first_read.wait(timeout=5)
        _read_then_write(second, "second", after_read=second_read, before_write=first_done,
                         errors=errors)

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
