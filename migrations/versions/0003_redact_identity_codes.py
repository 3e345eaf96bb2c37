"""Redact identity codes already stored in clear in free text.

Before this revision the email intake stored an email's subject, body, sender name and
attachment names as they came, identity codes included; the console and the chatbot already
refused or redacted them. This revision applies today's free-text policy to what is stored:
contacts' subjects and notes (every channel), and email rows' sender names and attachment
names. A data migration only: the schema does not change.

There is no way back: the codes are gone, which is the point. Downgrading leaves the text as it
is.

Revision ID: 0003_redact_identity_codes
Revises: 0002_retention_and_intake
Created: 2026-12-03 10:00:00
"""

import re
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_redact_identity_codes"
down_revision: str | Sequence[str] | None = "0002_retention_and_intake"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of cs_register.free_text as of this revision: a migration must do the same
# thing whenever it runs, whatever the application's rule becomes later.
_IDENTITY_CODE = re.compile(r"(?<!\d)\d{6}\s*[-+A-FU-Y]\s*\d{3}\s*[0-9A-Y](?!\d)", re.IGNORECASE)
_PUBLIC_ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
_REDACTED = "[identity code removed]"
_SUBJECT_LENGTH = 200
_BATCH = 1000

_contacts = sa.table(
    "contacts", sa.column("id", sa.Integer), sa.column("subject"), sa.column("notes")
)
_emails = sa.table(
    "email_messages",
    sa.column("id", sa.Integer),
    sa.column("sender_name"),
    sa.column("attachments", sa.JSON),
)


def _redact(text: str | None) -> str | None:
    if not text:
        return text
    ids = [match.span() for match in _PUBLIC_ID.finditer(text)]
    pieces, position = [], 0
    for match in _IDENTITY_CODE.finditer(text):
        start, end = match.span()
        if any(id_start <= start and end <= id_end for id_start, id_end in ids):
            continue
        pieces += [text[position:start], _REDACTED]
        position = end
    return "".join([*pieces, text[position:]]) if pieces else text


def _batches(connection: sa.Connection, table: sa.TableClause) -> Iterator[list[sa.Row]]:
    """Rows in id order, a batch at a time, so a large table never sits in memory at once."""
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(table).where(table.c.id > last_id).order_by(table.c.id).limit(_BATCH)
        ).all()
        if not rows:
            return
        yield rows
        last_id = rows[-1].id


def upgrade() -> None:
    connection = op.get_bind()
    for rows in _batches(connection, _contacts):
        for row in rows:
            subject, notes = _redact(row.subject), _redact(row.notes)
            if (subject, notes) != (row.subject, row.notes):
                connection.execute(
                    _contacts.update()
                    .where(_contacts.c.id == row.id)
                    .values(subject=(subject or "")[:_SUBJECT_LENGTH], notes=notes)
                )
    for rows in _batches(connection, _emails):
        for row in rows:
            attachments = [
                {**item, "filename": _redact(item.get("filename"))}
                for item in (row.attachments or [])
            ]
            sender_name = _redact(row.sender_name)
            if (sender_name, attachments) != (row.sender_name, row.attachments or []):
                connection.execute(
                    _emails.update()
                    .where(_emails.c.id == row.id)
                    .values(sender_name=sender_name, attachments=attachments)
                )


def downgrade() -> None:
    # The codes cannot (and must not) come back.
    pass
