"""Watching which transaction a statement runs in: whether a read took SQLite's writers' turn."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from cs_register.db import Database


@contextmanager
def transactions_of(
    database: Database, matches: Callable[[str], bool]
) -> Iterator[list[tuple[bool, bool]]]:
    """For each statement `matches` accepts while the block runs: (whether it ran inside a
    transaction, whether that transaction held SQLite's writers' turn). PostgreSQL has no such
    turn: the second is always False there."""
    seen: list[tuple[bool, bool]] = []

    def note(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if matches(statement):
            raw = conn.connection.dbapi_connection
            seen.append((conn.in_transaction(), bool(getattr(raw, "_holds_writer_lock", False))))

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", note)
