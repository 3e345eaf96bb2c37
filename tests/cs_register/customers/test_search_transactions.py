"""The console search's transactions: its read holds no write lock (on SQLite, not the writers'
turn), and its audit row is committed on its own before anything found is shown."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import event

from cs_register import db as db_module
from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.customers.models import Customer
from cs_register.db import Database
from cs_register.staff.models import StaffSession
from tests.support.writer_lock import transactions_of

# How long the other writer waits for a lock before it gives up: the search's read must not
# make it wait at all, so a second is plenty (SQLite's writers' turn, PostgreSQL's row locks).
WRITER_PATIENCE_SECONDS = 1.0


def kept_search(client, kind, value):
    """POST the search; the results page's address (the GET that searches)."""
    posted = client.post("/customers/search", data={"kind": kind, "value": value})
    assert posted.status_code == 303
    return posted.headers["Location"]


def searches_in_trail(db_session):
    db_session.rollback()  # a fresh snapshot of what the app committed
    return db_session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action == AuditAction.CUSTOMER_SEARCHED)
        .order_by(AuditEvent.id)
    ).all()


def is_name_search(statement):
    """A read of the name search: a range on one of the two name keys."""
    return statement.lstrip().upper().startswith("SELECT") and bool(
        re.search(r"name_key_(family|given)_first >=", statement)
    )


def test_another_connection_writes_while_a_name_search_reads(
    client, logged_in, make_customer, clock, database, database_url, db_session, monkeypatch
):
    monkeypatch.setattr(db_module, "SQLITE_WRITER_TIMEOUT_SECONDS", WRITER_PATIENCE_SECONDS)
    agent = logged_in("agent")
    make_customer(given_names="Aino", family_name="Aaltonen")
    bystander = make_customer(given_names="Veikko", family_name="Virtanen")
    results_page = kept_search(client, "name", "aalt")
    # Past the session check's minute, so this request also changes the session row.
    clock.advance(timedelta(minutes=2))

    other_writer = Database(database_url)
    writes: list[float | Exception] = []

    def write_during_the_read(_conn, _cursor, statement, *_args):
        if writes or not is_name_search(statement):
            return
        started = time.monotonic()
        try:
            with other_writer.unit_of_work() as session:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(sa.text("SET LOCAL lock_timeout = '1s'"))
                # One-row updates: the searcher's own session row, which the session check
                # changed in this request, and a customer the search is not about.
                session.execute(
                    sa.update(StaffSession)
                    .where(StaffSession.user_id == agent.id)
                    .values(last_seen_at=StaffSession.last_seen_at)
                )
                session.execute(
                    sa.update(Customer).where(Customer.id == bystander.id).values(city="Oulu")
                )
        except sa.exc.OperationalError as error:
            writes.append(error)
        else:
            writes.append(time.monotonic() - started)

    event.listen(database.engine, "before_cursor_execute", write_during_the_read)
    try:
        response = client.get(results_page)
    finally:
        event.remove(database.engine, "before_cursor_execute", write_during_the_read)
        other_writer.dispose()

    (wrote,) = writes
    assert isinstance(wrote, float), f"the other writer was locked out: {wrote}"
    assert wrote < WRITER_PATIENCE_SECONDS
    assert response.status_code == 200
    assert "Aaltonen" in response.get_data(as_text=True)
    assert db_session.get(Customer, bystander.id).city == "Oulu"
    (searched,) = searches_in_trail(db_session)
    assert searched.details == {"kind": "name", "results": 1}


def test_the_search_reads_without_holding_sqlites_writers_turn(
    client, logged_in, make_customer, clock, database
):
    logged_in("agent")
    make_customer(given_names="Aino", family_name="Aaltonen")
    results_page = kept_search(client, "name", "aalt")
    clock.advance(timedelta(minutes=2))
    with transactions_of(database, is_name_search) as seen:
        response = client.get(results_page)
    assert response.status_code == 200
    # Both keys' reads (family name first, given name first), in a transaction that does not
    # hold the writers' turn (on PostgreSQL there is no such turn: False too).
    assert seen == [(True, False), (True, False)]


def test_a_search_whose_audit_row_cannot_be_written_shows_nothing(
    client, logged_in, make_customer, database, db_session
):
    logged_in("agent")
    make_customer(given_names="Aino", family_name="Aaltonen", email="aino.aaltonen@example.fi")
    results_page = kept_search(client, "name", "aalt")
    refuse_audit_rows(database)

    response = client.get(results_page)

    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "could not be recorded in the audit trail" in html
    for shown in ("Aaltonen", "Aino", "aino.aaltonen@example.fi", "1 customer found"):
        assert shown not in html
    assert "Traceback" not in html
    assert searches_in_trail(db_session) == []


def test_a_search_shows_its_results_with_its_audit_row_committed(
    client, logged_in, make_customer, db_session
):
    agent = logged_in("agent")
    make_customer(given_names="Aino", family_name="Aaltonen")
    make_customer(given_names="Aapo", family_name="Aaltonen")
    response = client.get(kept_search(client, "name", "aalt"))
    assert response.status_code == 200
    assert "2 customers found" in response.get_data(as_text=True)
    (searched,) = searches_in_trail(db_session)
    assert searched.actor_id == agent.id
    assert searched.details == {"kind": "name", "results": 2}
    assert searched.request_id == response.headers["X-Request-Id"]


def refuse_audit_rows(database: Database) -> None:
    """Make every INSERT into the audit trail fail, as a full disk or a broken table would."""
    with database.unit_of_work() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                sa.text(
                    "CREATE FUNCTION refuse_audit_rows() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN RAISE EXCEPTION 'audit trail unwritable'; END $$"
                )
            )
            session.execute(
                sa.text(
                    "CREATE TRIGGER audit_events_refused BEFORE INSERT ON audit_events"
                    " FOR EACH ROW EXECUTE FUNCTION refuse_audit_rows()"
                )
            )
        else:
            session.execute(
                sa.text(
                    "CREATE TRIGGER audit_events_refused BEFORE INSERT ON audit_events"
                    " BEGIN SELECT RAISE(ABORT, 'audit trail unwritable'); END"
                )
            )
