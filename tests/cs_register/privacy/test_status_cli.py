"""`flask privacy status`: the deadline monitor an operator's alerting runs."""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa

from cs_register.privacy.cli import EXIT_DEADLINE_BROKEN
from cs_register.privacy.models import PrivacyRequest


def status(app):
    return app.test_cli_runner().invoke(args=["privacy", "status"])


def test_every_deadline_kept_exits_zero(app, logged_in, make_customer, register):
    customer = make_customer()
    logged_in("agent")
    register(customer, received_on="2026-11-20")  # due 20.12
    register(customer, kind="erasure", received_on="2026-10-27")  # due 27.11: within a week
    result = status(app)
    assert result.exit_code == 0, result.output
    assert "Open privacy requests: 2" in result.output
    assert "  access: 1" in result.output
    assert "Overdue: 0" in result.output
    assert "Due within 7 days: 1" in result.output
    assert "Every deadline is kept." in result.output


def test_an_overdue_request_exits_two_with_one_error_line_of_ids(
    app, logged_in, make_customer, register, cases, clock, caplog
):
    customer = make_customer(family_name="Virtanen")
    logged_in("agent")
    register(customer, received_on="2026-10-23")  # due 23.11: today, still on time
    assert status(app).exit_code == 0
    clock.advance(timedelta(hours=13))  # 24.11 00:00 Helsinki
    with caplog.at_level(logging.ERROR, logger="cs_register.privacy.monitor"):
        result = status(app)
    assert result.exit_code == EXIT_DEADLINE_BROKEN
    (case,) = cases()
    assert f"BROKEN overdue: request {case.public_id} due 23.11.2026" in result.output
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert line == f"privacy request deadlines broken: overdue: 1 ({case.public_id})"
    assert "Virtanen" not in result.output + line
    assert "copy" not in result.output + line


def test_an_extension_without_its_justification_exits_two(
    app, logged_in, make_customer, register, cases, database
):
    customer = make_customer()
    logged_in("agent")
    register(customer)
    (case,) = cases()
    # The service refuses this; a row edited by hand (or restored from elsewhere) may not.
    with database.unit_of_work() as session:
        session.execute(
            sa.update(PrivacyRequest).where(PrivacyRequest.id == case.id).values(extension_months=1)
        )
    result = status(app)
    assert result.exit_code == EXIT_DEADLINE_BROKEN
    assert f"BROKEN unjustified_extension: request {case.public_id}" in result.output
