"""The session check every console request begins with: its change to the session row (the
last-seen time, at most once a minute, or the session's end) is committed in a short
transaction of its own before the view runs, so it leaves the request no write transaction
(on SQLite: no writers' turn) for the rest of its length."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import event

from cs_register.db import get_session
from cs_register.staff.models import StaffSession

PROBE = "/probe-session-check"


def add_probe(app, database, seen):
    """A console page that notes, while it runs, whether the request's session has a
    transaction open and what another connection reads as the session's last-seen time."""

    def probe():
        seen["in_transaction"] = get_session().in_transaction()
        with database.read_only() as other:
            seen["last_seen_at"] = other.scalar(sa.select(StaffSession.last_seen_at))
        return "probed"

    app.add_url_rule(PROBE, "probe_session_check", probe)


def test_the_touch_is_committed_before_the_view_and_leaves_no_transaction_open(
    app, client, logged_in, clock, database
):
    seen: dict[str, object] = {}
    add_probe(app, database, seen)
    logged_in("agent")
    clock.advance(timedelta(minutes=5))

    assert client.get(PROBE).status_code == 200
    assert seen == {"in_transaction": False, "last_seen_at": clock.now}


def test_a_request_within_the_minute_writes_nothing(app, client, logged_in, clock, database):
    seen: dict[str, object] = {}
    add_probe(app, database, seen)
    logged_in("agent")
    logged_in_at = clock.now
    clock.advance(timedelta(seconds=30))
    statements: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()[:2]).upper())

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        assert client.get(PROBE).status_code == 200
    finally:
        event.remove(database.engine, "before_cursor_execute", note)

    assert seen == {"in_transaction": False, "last_seen_at": logged_in_at}
    assert any(statement.startswith("SELECT") for statement in statements)
    # No write, and on SQLite no transaction that takes the writers' turn.
    assert [
        statement
        for statement in statements
        if statement.split()[0] in {"INSERT", "UPDATE", "DELETE"} or statement == "BEGIN IMMEDIATE"
    ] == []
