"""Raw-email intake: a message as a mail relay delivers it becomes an inbound email contact.

Used by `POST /api/v1/intake/email` (message/rfc822, integration token) and by
`flask intake email < message.eml` (an MTA pipe). Both call `receive_email`.

- The Message-ID is the idempotency key: the same message twice is one contact. A message
  without one gets a stable id derived from the SHA-256 of its raw bytes
  (`<sha256-hex@generated.cs-register.invalid>`), so an identical redelivery still matches.
- `In-Reply-To` and then `References` (newest first) are looked up among earlier messages; a
  reply becomes a new contact in the same thread and, if the earlier contact is linked, is
  linked to the same customer.
- Otherwise the contact is linked when the sender address belongs to exactly one customer.
- The body is the text/plain part, or the text/html part converted to text. Attachments are
  not stored: their names, types and sizes are listed in the notes and on the email row.
- Anything that cannot be read as an email with a sender gets ValidationFailed (422) and
  nothing is stored.
"""

from __future__ import annotations

import hashlib
import html.parser
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage as ParsedMessage
from email.message import Message
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts.incoming import record_incoming_contact
from cs_register.contacts.models import MAX_SUBJECT, Channel, Contact, Direction
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.customers.search import CustomerRef, unique_customer_by
from cs_register.errors import Conflict, ValidationFailed
from cs_register.free_text import redact_identity_codes
from cs_register.identifiers import IdentifierError, normalise_email
from cs_register.intake.email_models import EmailMessage
from cs_register.integrations.models import IntegrationToken
from cs_register.permissions import Actor

log = logging.getLogger(__name__)

# A relay may deliver large attachments; the body we keep is text and is bounded separately.
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_SENDER_NAME = 200
MAX_MESSAGE_ID = 998  # the RFC 5322 line limit
MAX_BODY_CHARS = 100_000
MAX_LISTED_ATTACHMENTS = 50
MAX_ATTACHMENT_NAME = 200
NO_SUBJECT = "(no subject)"
EMAIL_SUBJECT_TYPE = "email"
GENERATED_ID_DOMAIN = "generated.cs-register.invalid"
# A Date header this far ahead of our clock is wrong; the contact is dated on arrival instead.
MAX_DATE_AHEAD = timedelta(minutes=5)
# Emails piped in on the server's command line.
CLI_ACTOR = Actor.for_command("intake-email")

# Printable ASCII only: ids are stored and compared as text, and a NUL byte or an undecodable
# byte (kept by the email package as a lone surrogate) cannot be stored in PostgreSQL.
_MSG_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,996}>")


@dataclass(frozen=True)
class AttachmentNote:
    filename: str
    content_type: str
    size_bytes: int

    def as_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size_bytes": self.size_bytes,
        }

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> AttachmentNote:
        return cls(
            filename=str(item.get("filename", "")),
            content_type=str(item.get("content_type", "")),
            size_bytes=int(item.get("size_bytes", 0)),
        )

    @property
    def size_text(self) -> str:
        size = self.size_bytes
        if size < 1024:
            return f"{size} B"
        if size < 1024 * 1024:
            return f"{size / 1024:.1f} KB"
        return f"{size / (1024 * 1024):.1f} MB"


@dataclass(frozen=True)
class ParsedEmail:
    """The parts of a message the register keeps, already validated and normalised."""

    message_id: str
    message_id_generated: bool
    sender_name: str
    sender_address: str
    subject: str
    sent_at: datetime | None
    body: str
    in_reply_to: str | None
    references: tuple[str, ...]
    attachments: tuple[AttachmentNote, ...] = field(default=())


# --- HTML to text -------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    [  # fmt: skip
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_INVISIBLE_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})


class _TextExtractor(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE_TAGS:
            self._hidden_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE_TAGS:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML body: no tags, scripts or styles; block elements on own lines."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    lines = [" ".join(line.split()) for line in "".join(extractor.parts).splitlines()]
    # At most one blank line between paragraphs.
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return text.strip()


# --- parsing ------------------------------------------------------------------------------


def _clean_text(raw: str, *, max_length: int) -> str:
    """NFC, whitespace collapsed, control/format characters dropped, cut to `max_length`."""
    value = unicodedata.normalize("NFC", raw)
    value = "".join(ch for ch in value if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    return " ".join(value.split())[:max_length]


def _clean_body(raw: str) -> str:
    value = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n"))
    # Keep newlines and tabs, drop other control characters (NUL breaks PostgreSQL text).
    value = "".join(
        ch for ch in value if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )
    value = re.sub(r"\n{3,}", "\n\n", value).strip()
    if len(value) > MAX_BODY_CHARS:
        value = value[:MAX_BODY_CHARS] + "\n[… message truncated]"
    return value


def _message_ids(raw: str | None) -> list[str]:
    return _MSG_ID.findall(raw or "")


def _header(message: Message, name: str) -> str | None:
    # Defective headers surface as exceptions in some corners of the email package; an
    # unreadable optional header is treated as absent rather than failing the whole message.
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError, LookupError, AttributeError):
        return None
    return None if value is None else str(value)


def _sender(message: Message) -> tuple[str, str]:
    header = None
    try:
        header = message.get("From")
        addresses: tuple[Address, ...] = tuple(getattr(header, "addresses", ()) or ())
    except (ValueError, TypeError, IndexError, LookupError, AttributeError):
        addresses = ()
    if header is None:
        raise ValidationFailed({"from": "The message has no From header."})
    if not addresses:
        raise ValidationFailed({"from": "The From header has no readable address."})
    address = addresses[0]
    try:
        sender_address = normalise_email(address.addr_spec)
    except (IdentifierError, ValueError):
        raise ValidationFailed({"from": "The sender address is not valid."}) from None
    return _clean_text(address.display_name or "", max_length=MAX_SENDER_NAME), sender_address


def _sent_at(message: Message) -> datetime | None:
    try:
        header = message.get("Date")
        value = getattr(header, "datetime", None)
    except (ValueError, TypeError, IndexError, LookupError, AttributeError, OverflowError):
        return None
    if not isinstance(value, datetime):
        return None
    # "-0000" means "zone unknown" (RFC 5322) and parses naive; UTC is the honest reading.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _part_text(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, ValueError, AssertionError, TypeError, AttributeError):
        # Unknown charset or a broken transfer encoding: keep what can be read.
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    return content if isinstance(content, str) else ""


def _body(message: ParsedMessage) -> str:
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except (ValueError, TypeError, IndexError, LookupError, AttributeError, KeyError):
        part = None
    if part is None:
        return ""
    text = _part_text(part)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return _clean_body(text)


def _attachments(message: ParsedMessage, body_part: Message | None) -> tuple[AttachmentNote, ...]:
    notes: list[AttachmentNote] = []
    for part in message.walk():
        if part is body_part or part.is_multipart():
            continue
        filename = part.get_filename()
        if not filename and part.get_content_disposition() != "attachment":
            continue
        payload = part.get_payload(decode=True)
        notes.append(
            AttachmentNote(
                # Shown on the contact page from the email row, so redacted here too.
                filename=redact_identity_codes(
                    _clean_text(filename or "(unnamed)", max_length=MAX_ATTACHMENT_NAME)
                )
                or "(unnamed)",
                content_type=_clean_text(part.get_content_type(), max_length=100),
                size_bytes=len(payload) if isinstance(payload, bytes) else 0,
            )
        )
        if len(notes) >= MAX_LISTED_ATTACHMENTS:
            break
    return tuple(notes)


def generated_message_id(raw: bytes) -> str:
    """The stand-in Message-ID of a message that has none: stable for the same bytes."""
    return f"<{hashlib.sha256(raw).hexdigest()}@{GENERATED_ID_DOMAIN}>"


def parse_email(raw: bytes) -> ParsedEmail:
    """Read a raw RFC 5322 message; ValidationFailed if it is not a usable email."""
    if not raw.strip():
        raise ValidationFailed({"message": "The message is empty."})
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ValidationFailed({"message": "The message is too large."})
    try:
        message = BytesParser(policy=default_policy).parsebytes(raw)
    except Exception:  # noqa: BLE001 - untrusted input; any parser failure is a malformed message
        raise ValidationFailed({"message": "The message could not be parsed."}) from None
    if not isinstance(message, ParsedMessage) or not message.keys():
        raise ValidationFailed({"message": "The message has no headers."})
    sender_name, sender_address = _sender(message)

    raw_id = _message_ids(_header(message, "Message-ID"))
    message_id = raw_id[0] if raw_id else generated_message_id(raw)
    try:
        body_part = message.get_body(preferencelist=("plain", "html"))
    except (ValueError, TypeError, IndexError, LookupError, AttributeError, KeyError):
        body_part = None
    in_reply_to = _message_ids(_header(message, "In-Reply-To"))
    return ParsedEmail(
        message_id=message_id,
        message_id_generated=not raw_id,
        sender_name=sender_name,
        sender_address=sender_address,
        subject=_clean_text(_header(message, "Subject") or "", max_length=MAX_SUBJECT),
        sent_at=_sent_at(message),
        body=_body(message),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=tuple(_message_ids(_header(message, "References"))),
        attachments=_attachments(message, body_part),
    )


# --- the service --------------------------------------------------------------------------


def _id_hash(message_id: str) -> str:
    return hashlib.sha256(message_id.encode("utf-8")).hexdigest()


def find_email(session: Session, message_id: str) -> EmailMessage | None:
    return session.scalar(
        sa.select(EmailMessage).where(EmailMessage.message_id_sha256 == _id_hash(message_id))
    )


def _parent_of(session: Session, parsed: ParsedEmail) -> EmailMessage | None:
    # In-Reply-To names the direct parent; References lists the thread oldest first, so the
    # newest known ancestor is the best parent when In-Reply-To is unknown to us.
    candidates = [parsed.in_reply_to] if parsed.in_reply_to else []
    candidates += list(reversed(parsed.references))
    for candidate in candidates:
        if candidate != parsed.message_id and (found := find_email(session, candidate)):
            return found
    return None


def _notes(parsed: ParsedEmail) -> str:
    notes = parsed.body
    if parsed.attachments:
        listed = "\n".join(
            f"- {note.filename} ({note.content_type}, {note.size_text})"
            for note in parsed.attachments
        )
        notes = f"{notes}\n\nAttachments (not stored):\n{listed}".strip()
    return notes


def receive_email(
    ctx: Context, *, raw: bytes, token: IntegrationToken | None = None
) -> tuple[EmailMessage, Contact, bool]:
    """Turn a raw email into an inbound `email` contact; returns (email, contact, created).

    The same Message-ID again returns the existing email and contact with `created` False.
    `token` is the integration that delivered it (None when piped in through the CLI).
    Identity codes in the subject, the body and the sender's name are redacted before anything
    is stored (`cs_register.free_text`): they belong in the customer's encrypted field only.
    """
    session = ctx.session
    parsed = parse_email(raw)
    existing = find_email(session, parsed.message_id)
    if existing is not None:
        found = session.get(Contact, existing.contact_id)
        assert found is not None  # noqa: S101 - non-null foreign key
        return existing, found, False

    parent = _parent_of(session, parsed)
    parent_contact = session.get(Contact, parent.contact_id) if parent is not None else None
    customer: CustomerRef | None = None
    if parent_contact is not None and parent_contact.customer_id is not None:
        parent_customer = session.get(Customer, parent_contact.customer_id)
        if parent_customer is not None:
            customer = CustomerRef(id=parent_customer.id, public_id=parent_customer.public_id)
    if customer is None:
        customer = unique_customer_by(session, email=parsed.sender_address)

    occurred_at = parsed.sent_at or ctx.now
    if occurred_at > ctx.now + MAX_DATE_AHEAD:
        occurred_at = ctx.now
    try:
        # A savepoint, so that losing a race leaves the caller's transaction usable.
        with session.begin_nested():
            incoming = record_incoming_contact(
                ctx,
                channel=Channel.EMAIL,
                direction=Direction.INBOUND,
                occurred_at=occurred_at,
                subject=parsed.subject or NO_SUBJECT,
                notes=_notes(parsed),
                customer_id=customer.id if customer is not None else None,
            )
            email_row = EmailMessage(
                message_id=parsed.message_id,
                message_id_sha256=_id_hash(parsed.message_id),
                message_id_generated=parsed.message_id_generated,
                in_reply_to=parsed.in_reply_to,
                contact_id=incoming.id,
                parent_contact_id=parent.contact_id if parent is not None else None,
                thread_root_contact_id=(
                    (parent.thread_root_contact_id or parent.contact_id)
                    if parent is not None
                    else None
                ),
                sender_name=redact_identity_codes(parsed.sender_name),
                sender_address=parsed.sender_address,
                sent_at=parsed.sent_at,
                received_at=ctx.now,
                attachments=[note.as_json() for note in parsed.attachments],
                integration_token_id=token.id if token is not None else None,
            )
            session.add(email_row)
            session.flush()
    except IntegrityError:
        # The same message is being received by another request; its retry gets a 200.
        raise Conflict("This message is being received by another request; retry.") from None
    contact = session.get(Contact, incoming.id)
    assert contact is not None  # noqa: S101 - inserted just above
    audit.record(
        ctx,
        AuditAction.EMAIL_CONTACT_RECEIVED,
        (EMAIL_SUBJECT_TYPE, email_row.public_id),
        details={
            "contact": contact.public_id,
            "customer_linked": customer is not None,
            **({"customer": customer.public_id} if customer is not None else {}),
            "threaded": parent is not None,
            "attachments": len(parsed.attachments),
            "message_id_generated": parsed.message_id_generated,
        },
    )
    return email_row, contact, True


# --- the console's view of a received email -------------------------------------------------


@dataclass(frozen=True)
class EmailDetails:
    """What the contact page shows about the email behind an email contact."""

    message: EmailMessage
    # Public ids of the contact this one replies to, and of the thread's first contact.
    reply_to_contact: str | None
    thread_root_contact: str | None

    @property
    def attachment_notes(self) -> list[AttachmentNote]:
        return [AttachmentNote.from_json(item) for item in self.message.attachments]


def email_details(session: Session, contact_id: int) -> EmailDetails | None:
    """The received email behind contact `contact_id`, or None for other contacts.

    Shown only on the contact page, whose view is already audited and permission-checked.
    """
    message = session.scalar(sa.select(EmailMessage).where(EmailMessage.contact_id == contact_id))
    if message is None:
        return None
    linked_ids = [
        contact
        for contact in (message.parent_contact_id, message.thread_root_contact_id)
        if contact is not None
    ]
    public_ids: dict[int, str] = {
        contact_id: public_id
        for contact_id, public_id in session.execute(
            sa.select(Contact.id, Contact.public_id).where(Contact.id.in_(linked_ids))
        )
    }
    return EmailDetails(
        message=message,
        reply_to_contact=public_ids.get(message.parent_contact_id or 0),
        thread_root_contact=public_ids.get(message.thread_root_contact_id or 0),
    )
