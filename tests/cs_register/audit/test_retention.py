"""The audit trail leaves AUDIT_RETENTION_YEARS after each event, to the second, in batches that
each leave a receipt; the database refuses every other delete and every update."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from cs_register import audit
from cs_register.audit import retention as audit_retention
from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.audit.retention import AuditRetention
from cs_register.contacts.retention import ContactRetention
from cs_register.personal_data import ErasureTally, registry
from cs_register.privacy.data_retention import sweep_customer_service_data
from cs_register.privacy.erasure_receipts import append_retention_receipt, verify_retention_ledger
from cs_register.privacy.models import RetentionReceipt
from tests.support.context import make_context

FIVE_YEARS = AuditRetention()
EVENT_AT = datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)


@pytest.fixture
def sweep(app, database):
    def _sweep(now: datetime, **options: Any):
        with app.app_context():
            return sweep_customer_service_data(
                database,
                registry(),
                now=now,
                policy=ContactRetention(),
                audit_policy=FIVE_YEARS,
                **options,
            )

    return _sweep


def _log(database, at: datetime, how_many: int = 1) -> list[int]:
    with database.unit_of_work() as session:
        ctx = make_context(session, None, at)
        return [
            audit.record(ctx, AuditAction.CUSTOMER_VIEWED, ("customer", f"C{n}"))
            for n in range(how_many)
        ]


def _events(database) -> list[tuple[int, AuditAction]]:
    with database.session_factory() as session:
        return [
            (row.id, row.action)
            for row in session.execute(sa.select(AuditEvent.id, AuditEvent.action))
        ]


def _receipts(database) -> list[RetentionReceipt]:
    with database.session_factory() as session:
        return list(
            session.scalars(
                sa.select(RetentionReceipt)
                .where(RetentionReceipt.category == "audit_events")
                .order_by(RetentionReceipt.sequence)
            )
        )


def test_the_period_is_calendar_years_to_the_second() -> None:
    now = datetime(2031, 3, 1, 9, 30, 15, tzinfo=UTC)
    assert FIVE_YEARS.due_before(now) == EVENT_AT
    assert FIVE_YEARS.due_before(now - timedelta(seconds=1)) < EVENT_AT
    # 29 February in a leap year counts from 28 February five years before.
    leap_day = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert FIVE_YEARS.due_before(leap_day) == datetime(2023, 2, 28, 12, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="at least one year"):
        AuditRetention(years=0)


def test_an_event_leaves_at_its_time_with_a_receipt_of_what_went(database, sweep) -> None:
    old = _log(database, EVENT_AT, how_many=3)
    newer = _log(database, EVENT_AT + timedelta(seconds=1))
    with database.session_factory() as session:
        expected_digest = audit_retention.rows_digest(session, old)

    early = sweep(EVENT_AT.replace(year=2031) - timedelta(seconds=1))
    assert early.audit_events_removed == 0
    assert {event_id for event_id, _ in _events(database)} >= set(old + newer)

    report = sweep(EVENT_AT.replace(year=2031))
    assert report.audit_events_removed == 3
    remaining = _events(database)
    assert not {event_id for event_id, _ in remaining} & set(old)
    assert newer[0] in {event_id for event_id, _ in remaining}
    # The removal itself is on the trail, pointing at its receipt.
    assert AuditAction.DATA_RETENTION_APPLIED in {action for _, action in remaining}

    (receipt,) = _receipts(database)
    assert (receipt.removed, receipt.first_id, receipt.last_id) == (3, min(old), max(old))
    assert receipt.rows_sha256 == expected_digest
    assert receipt.erased == {"audit_events": 3}
    assert receipt.due_before == EVENT_AT
    with database.session_factory() as session:
        assert verify_retention_ledger(session).ok

    # Nothing more to do at the same instant: the sweep is idempotent.
    assert sweep(EVENT_AT.replace(year=2031)).audit_events_removed == 0


def test_removal_goes_in_batches_each_with_its_receipt(database, sweep) -> None:
    old = _log(database, EVENT_AT, how_many=7)
    report = sweep(EVENT_AT.replace(year=2032), audit_batch_size=3)
    assert report.audit_events_removed == 7
    receipts = _receipts(database)
    assert [r.removed for r in receipts] == [3, 3, 1]
    assert [(r.first_id, r.last_id) for r in receipts] == [
        (old[0], old[2]),
        (old[3], old[5]),
        (old[6], old[6]),
    ]


def test_a_dry_run_counts_and_removes_nothing(database, sweep) -> None:
    old = _log(database, EVENT_AT, how_many=2)
    report = sweep(EVENT_AT.replace(year=2031), dry_run=True)
    assert report.audit_events_removed == 2
    assert set(old) <= {event_id for event_id, _ in _events(database)}
    assert _receipts(database) == []


def test_a_shorter_setting_is_honoured(database, app) -> None:
    _log(database, EVENT_AT)
    with app.app_context():
        report = sweep_customer_service_data(
            database,
            registry(),
            now=EVENT_AT.replace(year=2027),
            policy=ContactRetention(),
            audit_policy=AuditRetention(years=1),
        )
    assert report.audit_events_removed == 1


def test_the_database_refuses_a_delete_no_receipt_covers(database) -> None:
    (event_id,) = _log(database, EVENT_AT)
    with pytest.raises(DBAPIError, match="append-only"), database.unit_of_work() as session:
        session.execute(sa.delete(AuditEvent).where(AuditEvent.id == event_id))
    assert event_id in {i for i, _ in _events(database)}


def test_a_receipt_lets_through_only_events_older_than_its_cut_off(database, sweep) -> None:
    """A receipt for ids 1..N does not let a newer event with an id in that range go."""
    (old_id,) = _log(database, EVENT_AT)
    (recent_id,) = _log(database, EVENT_AT.replace(year=2030))
    with database.unit_of_work() as session:
        append_retention_receipt(
            session,
            category="audit_events",
            row_ids=[old_id, recent_id],
            rows_sha256="0" * 64,
            tally=ErasureTally(),
            due_before=EVENT_AT,
            swept_at=EVENT_AT.replace(year=2031),
            job_id=None,
        )
    with pytest.raises(DBAPIError, match="append-only"), database.unit_of_work() as session:
        session.execute(sa.delete(AuditEvent).where(AuditEvent.id == recent_id))
    with database.unit_of_work() as session:
        session.execute(sa.delete(AuditEvent).where(AuditEvent.id == old_id))
    assert {i for i, _ in _events(database)} == {recent_id}


def test_the_database_refuses_every_update_even_of_an_old_event(database, sweep) -> None:
    (event_id,) = _log(database, EVENT_AT)
    sweep(EVENT_AT.replace(year=2030))  # nothing due yet, but receipts exist for nothing
    with pytest.raises(DBAPIError, match="append-only"), database.unit_of_work() as session:
        session.execute(
            sa.update(AuditEvent).where(AuditEvent.id == event_id).values(actor_label="x")
        )


def test_the_monitor_fails_while_events_are_kept_past_their_time(app, database, clock) -> None:
    _log(database, EVENT_AT, how_many=2)
    clock.set(EVENT_AT.replace(year=2031) + timedelta(hours=2))
    runner = app.test_cli_runner()
    status = runner.invoke(args=["retention", "status"])
    assert status.exit_code == 2
    assert "Audit events overdue for removal: 2" in status.output
    swept = runner.invoke(args=["retention", "sweep"])
    assert swept.exit_code == 0, swept.output
    assert "audit events removed 2" in swept.output
    after = runner.invoke(args=["retention", "status"])
    assert after.exit_code == 0, after.output
    assert "Audit events overdue for removal: 0" in after.output
