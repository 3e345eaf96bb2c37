"""Every sign-in attempt leaves a record with its source address, kept 45 days to the second."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from cs_register.staff.models import StaffSignIn
from cs_register.staff.sign_ins import SIGN_IN_RETENTION, purge_old_sign_ins
from tests.conftest import DEFAULT_PASSWORD


def _records(database) -> list[tuple[int | None, str | None, str]]:
    with database.session_factory() as session:
        rows = session.scalars(sa.select(StaffSignIn).order_by(StaffSignIn.id))
        return [(row.user_id, row.source_address, row.outcome) for row in rows]


def test_each_attempt_is_recorded_with_its_address_and_outcome(client, make_staff, database):
    maija = make_staff("agent", username="maija")
    address = {"REMOTE_ADDR": "192.0.2.17"}
    client.post("/login", data={"username": "nobody", "password": "x" * 12}, environ_base=address)
    client.post("/login", data={"username": "maija", "password": "x" * 12}, environ_base=address)
    response = client.post(
        "/login", data={"username": "maija", "password": DEFAULT_PASSWORD}, environ_base=address
    )
    assert response.status_code == 302
    assert _records(database) == [
        (None, "192.0.2.17", "unknown_user"),  # what was typed is not kept
        (maija.id, "192.0.2.17", "bad_password"),
        (maija.id, "192.0.2.17", "signed_in"),
    ]


def test_records_leave_45_days_after_the_attempt_to_the_second(client, make_staff, database, clock):
    make_staff("agent", username="maija")
    client.post("/login", data={"username": "maija", "password": DEFAULT_PASSWORD})
    with database.session_factory() as session:
        attempted = session.scalars(sa.select(StaffSignIn.occurred_at)).one()
    due = attempted + SIGN_IN_RETENTION
    assert timedelta(days=45) == SIGN_IN_RETENTION
    with database.unit_of_work() as session:
        assert purge_old_sign_ins(session, now=due - timedelta(seconds=1)) == 0
    with database.unit_of_work() as session:
        assert purge_old_sign_ins(session, now=due) == 1
    assert _records(database) == []
