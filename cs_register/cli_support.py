"""What every `flask ...` command group shares: one unit of work per command, domain errors
shown as a clean `Error: ...` with exit status 1 instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import click
from flask import current_app
from sqlalchemy.orm import Session

from cs_register.context import Context
from cs_register.db import get_database
from cs_register.errors import DomainError, ValidationFailed
from cs_register.permissions import Actor
from cs_register.web import now


@contextmanager
def command_unit_of_work() -> Iterator[Session]:
    """The app's database session, committed once when the command's work is done."""
    try:
        with get_database(current_app).unit_of_work() as session:
            yield session
    except ValidationFailed as failure:
        messages = [message for field in failure.errors.values() for message in field]
        raise click.ClickException(" ".join(messages)) from None
    except DomainError as error:
        raise click.ClickException(error.detail) from None


@contextmanager
def command_context(actor: Actor | None = None) -> Iterator[Context]:
    """One command's unit of work as a `Context`: the deployment (or `actor`) acting now."""
    with command_unit_of_work() as session:
        yield Context(session=session, actor=actor or Actor.deployment(), now=now())


def echo_table(rows: Sequence[Sequence[str]], *, empty: str) -> None:
    """Print `rows` as aligned columns (two spaces apart), or `empty` when there are none:
    the listing commands' one layout."""
    if not rows:
        click.echo(empty)
        return
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        click.echo("  ".join(cells).rstrip())
