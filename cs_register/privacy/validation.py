"""What a privacy case's forms must say: free text without identity codes, reasons long
enough to mean something, dates, choices and the identifiers verified. Each check adds its
message to `errors` under the form field's name; messages never repeat the rejected value."""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable
from datetime import date
from typing import TypeVar

from cs_register.clock import parse_form_date
from cs_register.contacts.models import VERIFIABLE_IDENTIFIERS
from cs_register.free_text import contains_identity_code
from cs_register.identifiers import IdentifierError
from cs_register.languages import N_, Message

MIN_REASON = 10
MAX_REASON = 4000
_ALLOWED_CONTROLS = frozenset({"\n", "\t"})
E = TypeVar("E", bound=enum.Enum)


def text(errors: dict[str, list[str]], field: str, raw: str, *, label: str, max_length: int) -> str:
    """Multi-line free text typed by staff: required, bounded, no identity codes."""
    value = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not value:
        errors[field] = [Message("%(label)s is required.", label=label)]
    elif len(value) > max_length:
        errors[field] = [
            Message("%(label)s may be at most %(limit)d characters.", label=label, limit=max_length)
        ]
    elif any(
        unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") and ch not in _ALLOWED_CONTROLS
        for ch in value
    ):
        errors[field] = [
            Message("%(label)s contains characters that are not allowed.", label=label)
        ]
    elif contains_identity_code(value):
        # Cases are kept in clear; identity codes live encrypted on the customer only.
        errors[field] = [Message("%(label)s must not contain an identity code.", label=label)]
    return value


def reason(errors: dict[str, list[str]], field: str, raw: str, *, label: str) -> str:
    value = text(errors, field, raw, label=label, max_length=MAX_REASON)
    if field not in errors and len(value) < MIN_REASON:
        errors[field] = [
            Message(
                "%(label)s must be at least %(minimum)d characters.",
                label=label,
                minimum=MIN_REASON,
            )
        ]
    return value


def day(errors: dict[str, list[str]], field: str, raw: str, *, label: str) -> date | None:
    try:
        return parse_form_date(raw, label=label)
    except IdentifierError as problem:
        errors[field] = [problem.message]
        return None


def choice(
    errors: dict[str, list[str]], field: str, raw: str, enum_class: type[E], *, label: str
) -> E | None:
    try:
        return enum_class(raw)
    except ValueError:
        errors[field] = [Message("Choose the %(label)s.", label=label)]
        return None


def verified(errors: dict[str, list[str]], names: Iterable[str]) -> list[str]:
    chosen = set(names)
    unknown = chosen - set(VERIFIABLE_IDENTIFIERS)
    if unknown:
        errors["verified"] = [N_("Choose only identifiers the verification panel offers.")]
    return [name for name in VERIFIABLE_IDENTIFIERS if name in chosen]
