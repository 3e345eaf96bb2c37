"""Building raw RFC 5322 messages, as a mail relay would deliver them."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage as OutgoingMessage
from email.utils import format_datetime


def build_message(
    *,
    sender: str = "Matti Meikäläinen <matti@example.fi>",
    subject: str = "Laskuni on väärin",
    body: str = "Hei,\nlaskussa on virhe.\n",
    message_id: str | None = "<first@mail.example.fi>",
    date: datetime | None = None,
    **headers: str,
) -> bytes:
    message = OutgoingMessage()
    message["From"] = sender
    message["To"] = "asiakaspalvelu@example.com"
    message["Subject"] = subject
    if message_id is not None:
        message["Message-ID"] = message_id
    if date is not None:
        message["Date"] = format_datetime(date)
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()
