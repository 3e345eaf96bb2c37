"""`flask privacy ...`: the data-subject request deadlines, for operators and alerting.

- `status`: open cases, how many are overdue or due within a week, and every broken deadline
  rule. Exits 2 when a case is overdue or an extension lacks its justification, after one
  ERROR log line, so an operator's alerting can run it like `flask retention status`.

- `export CASE [--language fi|sv|en]`: build the download of an access or portability case now,
  with a progress bar; the DPO downloads it from the case page.

- `erase CASE`: carry out now the erasure the DPO started on the case page (a worker would,
  a little later), or finish one stopped part-way; prints what was erased and kept, and the
  receipt. It never starts one: that decision is the DPO's, in the console.

Output carries case ids, kinds and dates only, never personal data.
"""

from __future__ import annotations

import sys
from collections import Counter

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from cs_register.cli_support import command_context
from cs_register.clock import local_time, local_today
from cs_register.db import get_database
from cs_register.personal_data import registry as personal_data_registry
from cs_register.privacy import deadlines, processing_record
from cs_register.privacy.cases import get_case
from cs_register.privacy.erasure import carry_out_erasure
from cs_register.privacy.export import LANGUAGES, build_export, request_export
from cs_register.privacy.models import OPEN_STATUSES, ErasureState, PrivacyRequest
from cs_register.privacy.monitor import check_deadlines, log_problems
from cs_register.privacy.web import current_export_inputs
from cs_register.web import current_settings
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
            f"BROKEN {problem.kind}: request {problem.request_public_id}"
            f" due {problem.due_on.strftime('%d.%m.%Y')}"
        )
    if problems:
        log_problems(problems)
        sys.exit(EXIT_DEADLINE_BROKEN)
    click.echo("Every deadline is kept.")


@privacy_cli.command("export")
@click.argument("case_id")
@click.option("--language", type=click.Choice(sorted(LANGUAGES)), default="fi", show_default=True)
def export_command(case_id: str, language: str) -> None:
    """Build the download for the access or portability request CASE_ID."""
    with command_context() as ctx:
        queued = request_export(ctx, case_public_id=case_id, language=language)
    with click.progressbar(length=1, label="Building the export") as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        built = build_export(
            get_database(current_app),
            current_export_inputs(),
            export_public_id=queued.public_id,
            now=app_now,
            on_progress=progress,
        )
    if built is None:
        raise click.ClickException("The export was claimed by a worker; see the case page.")
    click.echo(
        f"Export {built.public_id} is ready ({built.size_bytes} bytes); the DPO downloads it"
        f" from the case page until {local_time(built.expires_at)}."
    )


@privacy_cli.command("erase")
@click.argument("case_id")
def erase_command(case_id: str) -> None:
    """Carry out (or finish) the erasure CASE_ID that the DPO started on its case page."""
    database = get_database(current_app)
    with database.session_factory() as session:
        state = get_case(session, case_id).erasure_state
    if state is None:
        raise click.ClickException(
            "The DPO starts an erasure on its case page; this command carries out one started."
        )
    if state is ErasureState.ERASED:
        click.echo(f"Request {case_id} was already erased.")
        return
    outcome = carry_out_erasure(database, personal_data_registry(), public_id=case_id, now=app_now)
    if outcome is None:
        raise click.ClickException("The erasure did not finish; see the log, and run it again.")
    receipt = outcome.receipt
    for category, count in sorted(receipt.erased.items()):
        click.echo(f"erased {category}: {count}")
    for item in receipt.kept:
        click.echo(f"kept {item['category']} {item['reference']}: {item['why']}")
    click.echo(f"Erasure receipt {receipt.sequence} ({receipt.receipt_hash[:16]}...).")


@privacy_cli.command("processing-record")
def processing_record_command() -> None:
    """Print the record of processing activities (GDPR art. 30) as Markdown, from the
    personal-data registry, the live settings and the integrations configured."""
    settings = current_settings()
    with get_database(current_app).read_only() as session:
        recipients = processing_record.configured_recipients(session)
    click.echo(
        processing_record.processing_record(settings, personal_data_registry(), recipients),
        nl=False,
    )
