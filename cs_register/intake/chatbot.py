"""Chatbot conversations arriving by signed webhook, and the handover queue they feed.

`receive_chatbot_conversation` turns one verified delivery into a chatbot contact: linked to
the customer whose email (checked first) or phone matches exactly one customer, otherwise left
unlinked for an agent. Two idempotency keys protect against duplicates: the webhook id (a
retried delivery gets the original response back) and the conversation id (the same
conversation delivered again under a new webhook id is still one contact).

Transcripts are stored as the contact's notes, in clear like every contact note, so anything
shaped like an identity code is redacted first: identity codes live encrypted on the customer.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.audit.services import record_event
from cs_register.clock import CLOCK_SKEW, parse_api_timestamp
from cs_register.contacts.incoming import record_incoming_contact
from cs_register.contacts.models import Channel, Contact, Direction
from cs_register.context import Context
from cs_register.customers.services import unique_customer_by
from cs_register.errors import Conflict, DomainError, NotFound, ValidationFailed
from cs_register.free_text import contains_identity_code, redact_identity_codes
from cs_register.identifiers import (
    IdentifierError,
    normalise_email,
    normalise_phone,
    normalise_text,
)
from cs_register.intake.models import ChatbotConversation, WebhookDelivery
from cs_register.permissions import Actor, Permission, StaffPrincipal, require
from cs_register.staff.models import StaffUser

# The chatbot is one integration, authenticated by its webhook signature.
ACTOR = Actor.for_integration("chatbot")
CONTACT_SUBJECT_TYPE = "contact"
# A sender retries for hours, not weeks; after this a delivery row is purged (see
# `purge_webhook_deliveries`). The conversation id still prevents duplicates after that.
DELIVERY_RETENTION = timedelta(days=7)
# Chat platforms' clocks drift a little; a conversation that starts later than this is an error.
# Like contacts logged by agents: anything older is a wrong year, not a late delivery.
MAX_AGE = timedelta(days=365)

MAX_CONVERSATION_ID = 128
MAX_NAME = 200
MAX_SUMMARY = 2_000
MAX_TURNS = 500
MAX_TURN_TEXT = 4_000
MAX_TRANSCRIPT_TEXT = 100_000
SPEAKERS = ("customer", "bot", "agent")
_LANGUAGE = re.compile(r"[A-Za-z-]{2,8}")
# Unicode's control characters (category Cc: U+0000-U+001F, U+007F-U+009F) but newline and
# tab, and surrogates (Cs). One regex scan: a per-character category lookup cost more than
# the rest of the validation together.
_FORBIDDEN_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class NotJson(DomainError):
    """The body is not a JSON document (400)."""

    status = 400
    title = "Bad request"


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str
    at: datetime | None


@dataclass(frozen=True)
class ChatbotPayload:
    """A validated webhook payload; unknown fields were dropped."""

    conversation_id: str
    started_at: datetime
    ended_at: datetime | None
    customer_name: str | None
    customer_email: str | None
    customer_phone: str | None
    language: str | None
    summary: str
    transcript: tuple[Turn, ...]
    handover: bool


@dataclass(frozen=True)
class IntakeResult:
    """What the webhook answers: status code and JSON body."""

    status_code: int
    body: dict[str, Any]


# --- parsing and validation --------------------------------------------------------------


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse_json_body(raw: bytes) -> object:
    """Strict JSON: UTF-8, no NaN/Infinity; anything else is `NotJson` (400)."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: thousands of nested brackets; still just "not acceptable JSON".
        raise NotJson("The request body is not valid UTF-8 JSON.") from None


def _free_text(value: str, *, label: str, max_length: int) -> str:
    """Multi-line text as typed in a chat: newlines kept, invisible control characters not."""
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if len(text) > max_length:
        raise IdentifierError(f"{label} may be at most {max_length} characters.")
    # Lone surrogates (from "\ud800" escapes) cannot be stored; NUL breaks PostgreSQL text.
    if _FORBIDDEN_IN_TEXT.search(text):
        raise IdentifierError(f"{label} contains characters that are not allowed.")
    return text


class _Errors:
    """Collects messages per dotted field path (`customer.email`, `transcript.3.text`)."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.by_field.setdefault(field, []).append(message)


def _optional_string(
    container: Mapping[str, object], key: str, path: str, errors: _Errors
) -> str | None:
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(path, "Must be a string or null.")
        return None
    return value


def _validate_customer(raw: object, errors: _Errors) -> tuple[str | None, str | None, str | None]:
    if raw is None:
        return None, None, None
    if not isinstance(raw, dict):
        errors.add("customer", "Must be an object with name, email and phone, or null.")
        return None, None, None
    name = email = phone = None
    raw_name = _optional_string(raw, "name", "customer.name", errors)
    if raw_name is not None:
        try:
            name = normalise_text(raw_name, label="Name", max_length=MAX_NAME, required=False)
        except IdentifierError as exc:
            errors.add("customer.name", str(exc))
        if name and contains_identity_code(name):
            errors.add("customer.name", "The name must not contain an identity code.")
    raw_email = _optional_string(raw, "email", "customer.email", errors)
    if raw_email is not None:
        try:
            email = normalise_email(raw_email)
        except IdentifierError as exc:
            errors.add("customer.email", str(exc))
    raw_phone = _optional_string(raw, "phone", "customer.phone", errors)
    if raw_phone is not None:
        try:
            phone = normalise_phone(raw_phone)
        except IdentifierError as exc:
            errors.add("customer.phone", str(exc))
    return name or None, email, phone


def _validate_transcript(raw: object, errors: _Errors) -> tuple[Turn, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.add("transcript", "Must be a list of turns, or null.")
        return ()
    if len(raw) > MAX_TURNS:
        errors.add("transcript", f"At most {MAX_TURNS} turns are accepted.")
        return ()
    turns: list[Turn] = []
    total = 0
    for index, item in enumerate(raw):
        path = f"transcript.{index}"
        if not isinstance(item, dict):
            errors.add(path, "Each turn must be an object with speaker and text.")
            continue
        speaker = item.get("speaker")
        if speaker not in SPEAKERS:
            errors.add(f"{path}.speaker", 'Must be "customer", "bot" or "agent".')
        text = item.get("text")
        clean_text: str | None = None
        if not isinstance(text, str):
            errors.add(f"{path}.text", "Must be a string.")
        else:
            total += len(text)
            try:
                clean_text = _free_text(text, label="Text", max_length=MAX_TURN_TEXT)
            except IdentifierError as exc:
                errors.add(f"{path}.text", str(exc))
        at: datetime | None = None
        if item.get("at") is not None:
            try:
                at = parse_api_timestamp(item.get("at"))
            except IdentifierError as exc:
                errors.add(f"{path}.at", str(exc))
        if isinstance(speaker, str) and clean_text is not None:
            turns.append(Turn(speaker=speaker, text=clean_text, at=at))
    if total > MAX_TRANSCRIPT_TEXT:
        errors.add(
            "transcript", f"The transcript may hold at most {MAX_TRANSCRIPT_TEXT} characters."
        )
    return tuple(turns)


def validate_payload(payload: object, *, now: datetime) -> ChatbotPayload:
    """Validate a decoded webhook body; `ValidationFailed` names every bad field."""
    if not isinstance(payload, dict):
        raise ValidationFailed({"body": ["The body must be a JSON object."]})
    errors = _Errors()

    conversation_id: str | None = None
    raw_id = payload.get("conversation_id")
    if not isinstance(raw_id, str):
        errors.add("conversation_id", "Required: the chatbot's conversation id as a string.")
    else:
        try:
            conversation_id = normalise_text(
                raw_id, label="Conversation id", max_length=MAX_CONVERSATION_ID
            )
        except IdentifierError as exc:
            errors.add("conversation_id", str(exc))

    started_at: datetime | None = None
    try:
        started_at = parse_api_timestamp(payload.get("started_at"))
        if started_at > now + CLOCK_SKEW:
            errors.add("started_at", "The conversation cannot start in the future.")
        elif started_at < now - MAX_AGE:
            errors.add("started_at", "The conversation started more than a year ago.")
    except IdentifierError as exc:
        errors.add("started_at", str(exc))
    ended_at: datetime | None = None
    if payload.get("ended_at") is not None:
        try:
            ended_at = parse_api_timestamp(payload.get("ended_at"))
            if started_at is not None and ended_at < started_at:
                errors.add("ended_at", "The conversation cannot end before it started.")
            elif ended_at > now + CLOCK_SKEW:
                errors.add("ended_at", "The conversation cannot end in the future.")
        except IdentifierError as exc:
            errors.add("ended_at", str(exc))

    name, email, phone = _validate_customer(payload.get("customer"), errors)

    language: str | None = None
    raw_language = _optional_string(payload, "language", "language", errors)
    if raw_language is not None:
        if _LANGUAGE.fullmatch(raw_language):
            language = raw_language.lower()
        else:
            errors.add("language", "Use a language tag of 2-8 letters or dashes, e.g. fi, sv, en.")

    summary = ""
    raw_summary = _optional_string(payload, "summary", "summary", errors)
    if raw_summary is not None:
        try:
            summary = _free_text(raw_summary, label="Summary", max_length=MAX_SUMMARY)
        except IdentifierError as exc:
            errors.add("summary", str(exc))

    transcript = _validate_transcript(payload.get("transcript"), errors)

    handover = payload.get("handover", False)
    if handover is None:
        handover = False
    if not isinstance(handover, bool):
        errors.add("handover", "Must be true or false.")
        handover = False

    if errors.by_field or conversation_id is None or started_at is None:
        raise ValidationFailed(errors.by_field)
    return ChatbotPayload(
        conversation_id=conversation_id,
        started_at=started_at,
        ended_at=ended_at,
        customer_name=name,
        customer_email=email,
        customer_phone=phone,
        language=language,
        summary=summary,
        transcript=transcript,
        handover=handover,
    )


# --- the contact -------------------------------------------------------------------------


def render_notes(payload: ChatbotPayload) -> str:
    """The contact's notes: who the customer said they were, the summary and the transcript."""
    given = [
        f"{label}: {value}"
        for label, value in (
            ("Name", payload.customer_name),
            ("Email", payload.customer_email),
            ("Phone", payload.customer_phone),
        )
        if value
    ]
    sections: list[str] = []
    if given:
        sections.append("Given to the chatbot:\n" + "\n".join(given))
    if payload.summary:
        sections.append("Summary:\n" + payload.summary)
    if payload.transcript:
        lines = [f"{turn.speaker}: {turn.text}" for turn in payload.transcript]
        sections.append("Transcript:\n" + "\n".join(lines))
    return redact_identity_codes("\n\n".join(sections))


# The webhook is the internet-facing hot path: a chatbot platform may deliver hundreds of
# conversations a second. So it reads and writes with prebuilt Core statements on the
# session's connection instead of ORM units of work (less than half the cost per delivery,
# see docs/benchmarks.md); the transaction is still the request's, committed once.
_contacts = cast(sa.Table, Contact.__table__)
_conversations = cast(sa.Table, ChatbotConversation.__table__)
_deliveries = cast(sa.Table, WebhookDelivery.__table__)

_SELECT_DELIVERY = sa.select(_deliveries.c.status_code, _deliveries.c.response).where(
    _deliveries.c.webhook_id == sa.bindparam("webhook_id")
)
_SELECT_CONVERSATION = (
    sa.select(
        _contacts.c.id,
        _contacts.c.public_id,
        _contacts.c.customer_id,
        _conversations.c.needs_handover,
    )
    .join_from(_conversations, _contacts, _contacts.c.id == _conversations.c.contact_id)
    .where(_conversations.c.conversation_id == sa.bindparam("conversation_id"))
)
_INSERT_CONVERSATION = sa.insert(_conversations)
_INSERT_DELIVERY = sa.insert(_deliveries)


def stored_response(session: Session, webhook_id: str) -> IntakeResult | None:
    """The answer an earlier delivery with this webhook id got, if there was one."""
    row = session.connection().execute(_SELECT_DELIVERY, {"webhook_id": webhook_id}).first()
    if row is None:
        return None
    return IntakeResult(row.status_code, dict(row.response))


def _existing_conversation(
    session: Session, conversation_id: str
) -> sa.Row[int, str, int | None, bool] | None:
    return (
        session.connection()
        .execute(_SELECT_CONVERSATION, {"conversation_id": conversation_id})
        .first()
    )


def _conversation_response(row: sa.Row[int, str, int | None, bool]) -> IntakeResult:
    """The 200 answer for a conversation that is already a contact."""
    body = _result_body(
        row.public_id, linked=row.customer_id is not None, handover=row.needs_handover
    )
    return IntakeResult(200, body)


def _result_body(contact_public_id: str, *, linked: bool, handover: bool) -> dict[str, Any]:
    return {"contact_id": contact_public_id, "linked": linked, "handover": handover}


def _record_delivery(
    connection: sa.Connection,
    *,
    webhook_id: str,
    now: datetime,
    contact_id: int | None,
    result: IntakeResult,
) -> None:
    connection.execute(
        _INSERT_DELIVERY,
        {
            "webhook_id": webhook_id,
            "received_at": now,
            "contact_id": contact_id,
            "status_code": result.status_code,
            "response": result.body,
        },
    )


def _store(ctx: Context, payload: ChatbotPayload, *, webhook_id: str) -> IntakeResult:
    customer = unique_customer_by(
        ctx.session, email=payload.customer_email, phone=payload.customer_phone
    )
    subject = "Chatbot conversation" + (f" ({payload.language})" if payload.language else "")
    contact = record_incoming_contact(
        ctx,
        channel=Channel.CHATBOT,
        direction=Direction.INBOUND,
        occurred_at=payload.started_at,
        subject=subject,
        notes=render_notes(payload),
        customer_id=customer.id if customer is not None else None,
    )
    connection = ctx.session.connection()
    connection.execute(
        _INSERT_CONVERSATION,
        {
            "conversation_id": payload.conversation_id,
            "contact_id": contact.id,
            "language": payload.language,
            "started_at": payload.started_at,
            "ended_at": payload.ended_at,
            "received_at": ctx.now,
            "needs_handover": payload.handover,
        },
    )
    result = IntakeResult(
        201,
        _result_body(contact.public_id, linked=customer is not None, handover=payload.handover),
    )
    _record_delivery(
        connection, webhook_id=webhook_id, now=ctx.now, contact_id=contact.id, result=result
    )
    audit.record(
        ctx,
        AuditAction.CHATBOT_CONTACT_RECEIVED,
        subject_type=CONTACT_SUBJECT_TYPE,
        subject_id=contact.public_id,
        details={
            "contact": contact.public_id,
            "linked": customer is not None,
            "handover": payload.handover,
            **({"customer": customer.public_id} if customer is not None else {}),
        },
    )
    return result


class Repeat(Exception):
    """This webhook id or conversation is already stored: a unique key fired on INSERT.

    The failed INSERT leaves the caller's transaction unusable (PostgreSQL aborts it), so the
    caller rolls the unit of work back and asks `answer_repeat` in a fresh one.
    """

    def __init__(self, conversation_id: str) -> None:
        super().__init__("this webhook or conversation is already stored")
        self.conversation_id = conversation_id


def receive_chatbot_conversation(ctx: Context, *, webhook_id: str, payload: object) -> IntakeResult:
    """Store one verified chatbot delivery as a contact (201).

    Call only after the signature was verified. Invalid payloads raise `ValidationFailed` and
    store nothing, unless the webhook id is known: a retry gets its stored answer even if the
    body would no longer pass. A webhook id or conversation id that is already stored raises
    `Repeat`: roll back, then call `answer_repeat`.

    Nothing is looked up first: the unique keys on the webhook id and the conversation id
    decide. Repeats are rare, and a lookup before every insert would cost every delivery two
    queries (and, on SQLite, hold the writers' turn for them) to spare the rare repeat a
    rollback. A concurrent duplicate is the same case and gets the same answer.
    """
    # Validated before the first statement opens the transaction (on SQLite, that takes the
    # writers' turn); a known webhook id still has the last word.
    try:
        valid = validate_payload(payload, now=ctx.now)
    except ValidationFailed as invalid:
        if (delivered := stored_response(ctx.session, webhook_id)) is not None:
            return delivered
        raise invalid from None
    try:
        return _store(ctx, valid, webhook_id=webhook_id)
    except IntegrityError as error:
        raise Repeat(valid.conversation_id) from error


def answer_repeat(
    session: Session, *, webhook_id: str, conversation_id: str, now: datetime
) -> IntakeResult:
    """After `Repeat`, in a fresh transaction: the answer for a delivery already stored.

    A known webhook id (a retry) gets its original status and body. A known conversation
    under a new webhook id gets 200 with the existing contact, and that webhook id is
    remembered, so its own retries get the same answer. Nothing else is written.
    """
    delivered = stored_response(session, webhook_id)
    if delivered is not None:
        return delivered
    existing = _existing_conversation(session, conversation_id)
    if existing is None:
        # The unique key fired for a row this transaction cannot see yet.
        raise Conflict("This conversation is being stored by another request; retry.")
    result = _conversation_response(existing)
    try:
        _record_delivery(
            session.connection(),
            webhook_id=webhook_id,
            now=now,
            contact_id=existing.id,
            result=result,
        )
    except IntegrityError:
        # The same webhook id, stored by a concurrent request a moment ago.
        raise Conflict("This delivery is being stored by another request; retry.") from None
    return result


def purge_webhook_deliveries(session: Session, *, now: datetime) -> int:
    """Delete delivery records older than `DELIVERY_RETENTION`; returns how many."""
    result = session.execute(
        sa.delete(WebhookDelivery).where(WebhookDelivery.received_at < now - DELIVERY_RETENTION)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- the handover queue ------------------------------------------------------------------


@dataclass(frozen=True)
class OpenHandover:
    contact: Contact
    conversation: ChatbotConversation
    age: timedelta

    @property
    def age_text(self) -> str:
        minutes = int(self.age.total_seconds() // 60)
        if minutes < 60:
            return f"{max(minutes, 0)} min"
        hours, minutes = divmod(minutes, 60)
        if hours < 48:
            return f"{hours} h {minutes} min"
        return f"{hours // 24} days"


def open_handovers(
    session: Session, *, actor: StaffPrincipal, now: datetime, limit: int = 200
) -> Sequence[OpenHandover]:
    """Conversations the bot handed over and no agent has closed yet, oldest first."""
    require(actor, Permission.LOG_CONTACTS)
    rows = session.execute(
        sa.select(Contact, ChatbotConversation)
        .join(ChatbotConversation, ChatbotConversation.contact_id == Contact.id)
        .where(
            ChatbotConversation.needs_handover.is_(True),
            ChatbotConversation.handover_closed_at.is_(None),
        )
        .order_by(ChatbotConversation.received_at, ChatbotConversation.id)
        .limit(limit)
    ).all()
    return [
        OpenHandover(contact=contact, conversation=conversation, age=now - conversation.received_at)
        for contact, conversation in rows
    ]


def count_open_handovers(session: Session) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(ChatbotConversation)
            .where(
                ChatbotConversation.needs_handover.is_(True),
                ChatbotConversation.handover_closed_at.is_(None),
            )
        )
        or 0
    )


def close_handover(
    session: Session,
    *,
    contact_public_id: str,
    actor: StaffPrincipal,
    now: datetime,
    request_id: str | None = None,
) -> ChatbotConversation:
    """Mark a handover as taken care of by `actor`; it leaves the queue.

    Closing an already closed handover is a 409 (someone else got there first).
    """
    require(actor, Permission.LOG_CONTACTS)
    row = session.execute(
        sa.select(Contact, ChatbotConversation)
        .join(ChatbotConversation, ChatbotConversation.contact_id == Contact.id)
        .where(Contact.public_id == contact_public_id)
    ).first()
    if row is None or not row[1].needs_handover:
        raise NotFound("No chatbot handover for this contact.")
    contact, conversation = row
    # A conditional UPDATE, so two agents closing at once cannot both succeed.
    closed = session.execute(
        sa.update(ChatbotConversation)
        .where(
            ChatbotConversation.id == conversation.id,
            ChatbotConversation.handover_closed_at.is_(None),
        )
        .values(handover_closed_at=now, handover_closed_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    if not closed.rowcount:  # type: ignore[attr-defined]
        raise Conflict("This handover has already been closed.")
    session.refresh(conversation)
    record_event(
        session,
        action=AuditAction.HANDOVER_CLOSED,
        actor=actor,
        now=now,
        subject_type=CONTACT_SUBJECT_TYPE,
        subject_id=contact.public_id,
        request_id=request_id,
        details={"waited_seconds": int((now - conversation.received_at).total_seconds())},
    )
    return conversation


@dataclass(frozen=True)
class ConversationDetails:
    """What the contact page shows about the conversation behind a chatbot contact."""

    conversation: ChatbotConversation
    handover_closed_by: str | None  # a username


def conversation_details(session: Session, contact_id: int) -> ConversationDetails | None:
    """The chatbot conversation behind contact `contact_id`, or None for other contacts."""
    row = session.execute(
        sa.select(ChatbotConversation, StaffUser.username)
        .outerjoin(StaffUser, StaffUser.id == ChatbotConversation.handover_closed_by_id)
        .where(ChatbotConversation.contact_id == contact_id)
    ).first()
    if row is None:
        return None
    return ConversationDetails(conversation=row[0], handover_closed_by=row[1])
