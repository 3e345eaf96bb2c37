"""Reading a raw RFC 5322 message: sender, subject, dates, Message-ID and thread ids, the body as
text (HTML converted), and notes about the attachments (which are never stored).

Anything that cannot be read as an email with a sender raises ValidationFailed; nothing here
touches the database.
"""

from __future__ import annotations

import hashlib
import html.parser
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage as ParsedMessage
from email.message import Message
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

from cs_register.contacts.models import MAX_SUBJECT
from cs_register.errors import ValidationFailed
from cs_register.free_text import redact_identity_codes
from cs_register.identifiers import IdentifierError, normalise_email
from cs_register.languages import N_

# A relay may deliver large attachments; the body we keep is text and is bounded separately.
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_SENDER_NAME = 200
MAX_MESSAGE_ID = 998  # the RFC 5322 line limit
MAX_BODY_CHARS = 100_000
MAX_LISTED_ATTACHMENTS = 50
MAX_ATTACHMENT_NAME = 200
GENERATED_ID_DOMAIN = "generated.cs-register.invalid"
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
        raise ValidationFailed({"from": N_("The message has no From header.")})
    if not addresses:
        raise ValidationFailed({"from": N_("The From header has no readable address.")})
    address = addresses[0]
    try:
        sender_address = normalise_email(address.addr_spec)
    except (IdentifierError, ValueError):
        raise ValidationFailed({"from": N_("The sender address is not valid.")}) from None
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
        raise ValidationFailed({"message": N_("The message is empty.")})
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ValidationFailed({"message": N_("The message is too large.")})
    try:
        message = BytesParser(policy=default_policy).parsebytes(raw)
    except Exception:  # noqa: BLE001 - untrusted input; any parser failure is a malformed message
        raise ValidationFailed({"message": N_("The message could not be parsed.")}) from None
    if not isinstance(message, ParsedMessage) or not message.keys():
        raise ValidationFailed({"message": N_("The message has no headers.")})
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
