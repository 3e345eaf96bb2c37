"""audit.record: the row shares the unit of work's transaction, and so does its log line."""

from __future__ import annotations

import logging
import uuid

import pytest
import sqlalchemy as sa

from cs_register import audit
from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.audit.services import AuditDetailsContainPersonalData
from cs_register.context import Context
from cs_register.permissions import Actor


def _audit_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "cs_register.audit"]


def test_a_committed_event_is_stored_and_logged_after_the_commit(database, clock, caplog):
    caplog.set_level(logging.INFO, logger="cs_register.audit")
    subject = str(uuid.uuid4())
    with database.unit_of_work() as session:
        ctx = Context(session, Actor.for_job(None), clock.now, request_id="req-1")
        event_id = audit.record(
            ctx, AuditAction.CONTACT_VIEWED, ("contact", subject), details={"count": 1}
        )
        # Nothing is logged while the transaction could still roll back.
        assert _audit_lines(caplog) == []
    assert _audit_lines(caplog) == [f"audit contact_viewed by system on contact {subject}"]
    with database.unit_of_work() as session:
        row = session.get(AuditEvent, event_id)
        assert row is not None
        assert (row.action, row.subject_id, row.request_id, row.details) == (
            AuditAction.CONTACT_VIEWED,
            subject,
            "req-1",
            {"count": 1},
        )


def test_a_rolled_back_event_leaves_neither_a_row_nor_a_log_line(database, clock, caplog):
    caplog.set_level(logging.INFO, logger="cs_register.audit")
    session = database.session_factory()
    try:
        audit.record(Context(session, Actor.for_job(None), clock.now), AuditAction.CONTACT_VIEWED)
        # The change it describes failed: the unit of work rolls back.
        session.rollback()
    finally:
        session.close()
    assert _audit_lines(caplog) == []
    with database.unit_of_work() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_machine_written_details_are_not_mistaken_for_phone_numbers(database, clock):
    """Timestamps with microseconds and byte ranges: the phonenumbers matcher finds "numbers"
    in these (it is for typed free text), the trail's own check must not."""
    with database.unit_of_work() as session:
        audit.record(
            Context(session, Actor.for_job(None), clock.now),
            AuditAction.CONTACT_VIEWED,
            details={
                "due_at": "2026-12-04T19:07:08.651234+00:00",
                "range": "bytes 0-1048575",
            },
        )
    with database.unit_of_work() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 1


@pytest.mark.parametrize(
    "note",
    ["reach me at maija@example.fi", "call 0401234567", "+358401234567", "hetu 131052-308T"],
)
def test_details_that_look_like_personal_data_are_refused(database, clock, note):
    with pytest.raises(AuditDetailsContainPersonalData), database.unit_of_work() as session:
        audit.record(
            Context(session, Actor.for_job(None), clock.now),
            AuditAction.CONTACT_VIEWED,
            details={"note": note},
        )
    with database.unit_of_work() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0
