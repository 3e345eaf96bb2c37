"""What a logged contact's form must say: channel, direction, a time that is neither in the
future nor long past, a subject and notes free of identity codes, and the verification panel.

Messages are for the agent and never repeat the rejected value.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from cs_register.clock import parse_local_datetime
from cs_register.contacts.models import MAX_SUBJECT, VERIFIABLE_IDENTIFIERS, VerificationOutcome
from cs_register.errors import ValidationFailed
from cs_register.free_text import contains_identity_code
from cs_register.identifiers import IdentifierError, normalise_text
from cs_register.languages import N_, Message

MAX_NOTES = 10_000
# Clocks of agents' machines drift and forms are filled in quickly; beyond this it is a typo.
FUTURE_TOLERANCE = timedelta(minutes=5)
# Contacts are logged as they happen; anything older than this is a typo in the year.
MAX_BACKDATING = timedelta(days=365)
_TICKED = frozenset({"1", "on", "true", "yes"})
# Notes are multi-line free text: keep newlines and tabs, refuse other invisible characters.
_NOTES_ALLOWED_CONTROLS = frozenset({"\n", "\t"})
E = TypeVar("E", bound=enum.Enum)


@dataclass(frozen=True)
class VerificationInput:
    """A validated verification panel: the outcome and the identifiers that were checked."""

    outcome: VerificationOutcome
    checked: tuple[str, ...]


def form_text(form: Mapping[str, str | None], name: str) -> str:
    return (form.get(name) or "").strip()


def parse_choice(raw: str, enum_class: type[E], label: str) -> E:
    try:
        return enum_class(raw)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_class)
        raise IdentifierError(
            Message("%(label)s must be one of: %(allowed)s.", label=label, allowed=allowed)
        ) from None


def validate_occurred_at(raw: str, *, now: datetime) -> datetime:
    if not raw:
        return now
    occurred_at = parse_local_datetime(raw)
    if occurred_at > now + FUTURE_TOLERANCE:
        raise IdentifierError("Time of contact cannot be in the future.")
    if occurred_at < now - MAX_BACKDATING:
        raise IdentifierError("Time of contact is more than a year ago; check the date.")
    return occurred_at


def validate_subject(raw: str) -> str:
    value = normalise_text(raw, label=N_("Subject"), max_length=MAX_SUBJECT)
    if contains_identity_code(value):
        raise IdentifierError("The subject must not contain an identity code.")
    return value


def validate_notes(raw: str, *, max_length: int = MAX_NOTES) -> str:
    value = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if len(value) > max_length:
        raise IdentifierError(
            Message("Notes may be at most %(limit)d characters.", limit=max_length)
        )
    if any(
        unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") and ch not in _NOTES_ALLOWED_CONTROLS
        for ch in value
    ):
        raise IdentifierError("Notes contain characters that are not allowed.")
    if contains_identity_code(value):
        # Notes are stored in clear; identity codes live encrypted on the customer only.
        raise IdentifierError(
            "Notes must not contain an identity code; it belongs in the customer's record."
        )
    return value


def parse_verification(
    form: Mapping[str, str | None], errors: dict[str, list[str]], *, allow_not_attempted: bool
) -> VerificationInput | None:
    """Read the verification panel into `errors` or a VerificationInput.

    The database has the same rule as a check constraint; checking here first gives the agent
    a message instead of an integrity error.
    """
    checked: list[str] = []
    for name in VERIFIABLE_IDENTIFIERS:
        field = f"verify_{name}"
        value = form_text(form, field).lower()
        if value in _TICKED:
            checked.append(name)
        elif value:
            errors.setdefault(field, []).append(N_("Checkbox value was not understood."))
    raw_outcome = form_text(form, "verification_outcome") or VerificationOutcome.NOT_ATTEMPTED.value
    try:
        outcome = parse_choice(raw_outcome, VerificationOutcome, N_("Verification outcome"))
    except IdentifierError as exc:
        errors.setdefault("verification_outcome", []).append(exc.message)
        return None
    if outcome is VerificationOutcome.NOT_ATTEMPTED:
        if not allow_not_attempted:
            errors.setdefault("verification_outcome", []).append(
                "Choose whether the check succeeded or failed; 'not attempted' is only recorded"
                " when the contact is logged."
            )
        elif checked:
            errors.setdefault("verification_outcome", []).append(
                "You ticked identifiers as checked but chose 'not attempted': choose"
                " 'verified' or 'failed', or untick the identifiers."
            )
    elif not checked:
        errors.setdefault("verification_outcome", []).append(
            Message(
                "Outcome '%(outcome)s' needs at least one checked identifier: tick what you"
                " checked, or choose 'not attempted'.",
                outcome=outcome.value,
            )
        )
    return VerificationInput(outcome=outcome, checked=tuple(checked))


def validate_verification(
    form: Mapping[str, str | None], *, allow_not_attempted: bool = True
) -> VerificationInput:
    """Validate a verification panel on its own; raises ValidationFailed naming the field."""
    errors: dict[str, list[str]] = {}
    verification = parse_verification(form, errors, allow_not_attempted=allow_not_attempted)
    if errors or verification is None:
        raise ValidationFailed(errors)
    return verification
