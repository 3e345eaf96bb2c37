"""`flask intake email < message.eml`: a mail server pipes a raw message into the register.

Prints the contact id on success (exit 0, also for a message already received). On failure it
prints the reason to stderr and exits non-zero, so the MTA can bounce or retry the message.
"""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from cs_register.context import Context
from cs_register.db import get_database
from cs_register.errors import DomainError, ValidationFailed
from cs_register.intake.email import CLI_ACTOR, receive_email
from cs_register.intake.email_parsing import MAX_MESSAGE_BYTES
from cs_register.web import now as app_now

intake_cli = AppGroup("intake", help="Receive contacts from the command line (mail pipes).")


@intake_cli.command("email")
def email_command() -> None:
    """Read one raw RFC 5322 message from stdin and log it as an inbound email contact."""
    # One byte over the limit is enough to know the message is too large.
    raw = sys.stdin.buffer.read(MAX_MESSAGE_BYTES + 1)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise click.ClickException("The message is too large.")
    try:
        with get_database(current_app).unit_of_work() as session:
            ctx = Context(session=session, actor=CLI_ACTOR, now=app_now())
            _, contact, created = receive_email(ctx, raw=raw)
            contact_id = contact.public_id
    except ValidationFailed as failure:
        messages = [message for field in failure.errors.values() for message in field]
        raise click.ClickException(" ".join(messages)) from None
    except DomainError as error:
        raise click.ClickException(error.detail) from None
    click.echo(contact_id)
    if not created:
        click.echo("The message had already been received.", err=True)
