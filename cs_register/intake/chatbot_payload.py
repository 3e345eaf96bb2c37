"""What a chatbot delivery must look like: parsing and validating its JSON, and the contact
notes it becomes.

Everything is checked before anything is written; a message names the field (`customer.email`,
`transcript.3.text`) and never repeats the value. Transcripts become the contact's notes, with
identity codes redacted (`cs_register.free_text`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cs_register.clock import CLOCK_SKEW, parse_api_timestamp
from cs_register.errors import ValidationFailed
from cs_register.free_text import contains_identity_code, redact_identity_codes
from cs_register.identifiers import (
    IdentifierError,
    normalise_email,
    normalise_phone,
    normalise_text,
)
from cs_register.languages import N_, Message

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


def _free_text(value: str, *, label: str, max_length: int) -> str:
    """Multi-line text as typed in a chat: newlines kept, invisible control characters not."""
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if len(text) > max_length:
        raise IdentifierError(
            Message("%(label)s may be at most %(limit)d characters.", label=label, limit=max_length)
        )
    # Lone surrogates (from "\ud800" escapes) cannot be stored; NUL breaks PostgreSQL text.
    if _FORBIDDEN_IN_TEXT.search(text):
        raise IdentifierError(
            Message("%(label)s contains characters that are not allowed.", label=label)
        )
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


def _normalised_field(
    container: Mapping[str, object],
    key: str,
    errors: _Errors,
    normalise: Callable[[str], str | None],
) -> str | None:
    """One optional customer field, normalised; a problem is reported against its path."""
    path = f"customer.{key}"
    raw = _optional_string(container, key, path, errors)
    if raw is None:
        return None
    try:
        return normalise(raw)
    except IdentifierError as exc:
        errors.add(path, exc.message)
        return None


def _validate_customer(raw: object, errors: _Errors) -> tuple[str | None, str | None, str | None]:
    if raw is None:
        return None, None, None
    if not isinstance(raw, dict):
        errors.add("customer", "Must be an object with name, email and phone, or null.")
        return None, None, None
    name = _normalised_field(
        raw,
        "name",
        errors,
        lambda value: normalise_text(value, label=N_("Name"), max_length=MAX_NAME, required=False),
    )
    if name and contains_identity_code(name):
        errors.add("customer.name", "The name must not contain an identity code.")
    email = _normalised_field(raw, "email", errors, normalise_email)
    phone = _normalised_field(raw, "phone", errors, normalise_phone)
    return name or None, email, phone


def _validate_transcript(raw: object, errors: _Errors) -> tuple[Turn, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.add("transcript", "Must be a list of turns, or null.")
        return ()
    if len(raw) > MAX_TURNS:
        errors.add("transcript", Message("At most %(limit)d turns are accepted.", limit=MAX_TURNS))
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
                clean_text = _free_text(text, label=N_("Text"), max_length=MAX_TURN_TEXT)
            except IdentifierError as exc:
                errors.add(f"{path}.text", exc.message)
        at: datetime | None = None
        if item.get("at") is not None:
            try:
                at = parse_api_timestamp(item.get("at"))
            except IdentifierError as exc:
                errors.add(f"{path}.at", exc.message)
        if isinstance(speaker, str) and clean_text is not None:
            turns.append(Turn(speaker=speaker, text=clean_text, at=at))
    if total > MAX_TRANSCRIPT_TEXT:
        errors.add(
            "transcript",
            Message(
                "The transcript may hold at most %(limit)d characters.", limit=MAX_TRANSCRIPT_TEXT
            ),
        )
    return tuple(turns)


def validate_payload(payload: object, *, now: datetime) -> ChatbotPayload:
    """Validate a decoded webhook body; `ValidationFailed` names every bad field."""
    if not isinstance(payload, dict):
        message = N_("The body must be a JSON object.")
        raise ValidationFailed({"body": [message]})
    errors = _Errors()

    conversation_id: str | None = None
    raw_id = payload.get("conversation_id")
    if not isinstance(raw_id, str):
        errors.add("conversation_id", "Required: the chatbot's conversation id as a string.")
    else:
        try:
            conversation_id = normalise_text(
                raw_id, label=N_("Conversation id"), max_length=MAX_CONVERSATION_ID
            )
        except IdentifierError as exc:
            errors.add("conversation_id", exc.message)

    started_at: datetime | None = None
    try:
        started_at = parse_api_timestamp(payload.get("started_at"))
        if started_at > now + CLOCK_SKEW:
            errors.add("started_at", "The conversation cannot start in the future.")
        elif started_at < now - MAX_AGE:
            errors.add("started_at", "The conversation started more than a year ago.")
    except IdentifierError as exc:
        errors.add("started_at", exc.message)
    ended_at: datetime | None = None
    if payload.get("ended_at") is not None:
        try:
            ended_at = parse_api_timestamp(payload.get("ended_at"))
            if started_at is not None and ended_at < started_at:
                errors.add("ended_at", "The conversation cannot end before it started.")
            elif ended_at > now + CLOCK_SKEW:
                errors.add("ended_at", "The conversation cannot end in the future.")
        except IdentifierError as exc:
            errors.add("ended_at", exc.message)

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
            summary = _free_text(raw_summary, label=N_("Summary"), max_length=MAX_SUMMARY)
        except IdentifierError as exc:
            errors.add("summary", exc.message)

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


# The first section of a chatbot contact's notes (`render_notes`), and its identifier lines.
GIVEN_HEADING = "Given to the chatbot:"
GIVEN_LABELS = {"email": "Email", "phone": "Phone"}


def given_identifiers(notes: str) -> dict[str, str]:
    """The email and phone the customer gave the chatbot, read back from the notes that
    `render_notes` wrote (the conversation row keeps no copy). A line that no longer reads as
    a valid identifier (an agent corrected the notes) is left out."""
    if not notes.startswith(GIVEN_HEADING + "\n"):
        return {}
    section = notes[len(GIVEN_HEADING) + 1 :].split("\n\n", 1)[0]
    checks = {"email": normalise_email, "phone": normalise_phone}
    found: dict[str, str] = {}
    for line in section.split("\n"):
        for kind, label in GIVEN_LABELS.items():
            if line.startswith(f"{label}: "):
                try:
                    found[kind] = checks[kind](line[len(label) + 2 :])
                except IdentifierError:
                    continue
    return found


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
        sections.append(GIVEN_HEADING + "\n" + "\n".join(given))
    if payload.summary:
        sections.append("Summary:\n" + payload.summary)
    if payload.transcript:
        lines = [f"{turn.speaker}: {turn.text}" for turn in payload.transcript]
        sections.append("Transcript:\n" + "\n".join(lines))
    return redact_identity_codes("\n\n".join(sections))
