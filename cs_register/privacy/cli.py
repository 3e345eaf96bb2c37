"""`flask privacy ...`: the data-subject request deadlines, for operators and alerting.

- `status`: open cases, how many are overdue or due within a week, and every broken deadline
  rule. Exits 2 when a case is overdue or an extension lacks its justification, after one
  ERROR log line, so an operator's alerting can run it like `flask retention status`.

Output carries case ids, kinds and dates only, never personal data.
"""

from __future__ import annotations

import sys
from collections import Counter

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from cs_register.clock import local_today
from cs_register.db import get_database
from cs_register.privacy import deadlines
from cs_register.privacy.models import PrivacyRequest
from cs_register.privacy.monitor import OPEN_STATUSES, check_deadlines, log_problems
from cs_register.web import now as app_now

privacy_cli = AppGroup("privacy", help="Data-subject requests: deadlines and their monitor.")

# The same exit status as `flask retention status` when a promise is broken.
EXIT_DEADLINE_BROKEN = 2


@privacy_cli.command("status")
def status_command() -> None:
    """Open requests by urgency; exits 2 if one is overdue or an extension is unjustified."""
    today = local_today(app_now())
    with get_database(current_app).session_factory() as session:
        open_cases = session.execute(
            sa.select(PrivacyRequest.kind, PrivacyRequest.due_on).where(
                PrivacyRequest.status.in_(OPEN_STATUSES)
            )
        ).all()
        problems = check_deadlines(session, today=today)
    urgencies = Counter(
        deadlines.urgency(due_on, today, is_open=True).value for _, due_on in open_cases
    )
    click.echo(f"Open privacy requests: {len(open_cases)}")
    for kind, count in sorted(Counter(kind.value for kind, _ in open_cases).items()):
        click.echo(f"  {kind}: {count}")
    click.echo(f"Overdue: {urgencies['overdue']}")
    click.echo(f"Due within {deadlines.DUE_SOON_DAYS} days: {urgencies['due_soon']}")
    for problem in problems:
        click.echo(
            f"BROKEN {problem.kind.value}: request {problem.request_public_id}"
            f" due {problem.due_on.strftime('%d.%m.%Y')}"
        )
    if problems:
        log_problems(problems)
        sys.exit(EXIT_DEADLINE_BROKEN)
    click.echo("Every deadline is kept.")
