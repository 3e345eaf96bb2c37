"""What staff type about a customer for the record (a reason, a purpose, an objection): one
rule for all of it. Normalised, bounded, and free of identity codes, phone numbers and email
addresses, which have fields of their own (encrypted, masked, audited when shown)."""

from __future__ import annotations

from cs_register.errors import ValidationFailed
from cs_register.free_text import contains_contact_details, contains_identity_code
from cs_register.identifiers import IdentifierError, normalise_text
from cs_register.languages import Message


def validate_free_text(
    raw: str | None, *, field: str, label: str, min_length: int, max_length: int
) -> str:
    try:
        text = normalise_text(raw or "", label=label, max_length=max_length)
    except IdentifierError as problem:
        raise ValidationFailed({field: [problem.message]}) from None
    if len(text) < min_length:
        message = Message(
            "%(label)s must be at least %(minimum)d characters.", label=label, minimum=min_length
        )
        raise ValidationFailed({field: [message]})
    if contains_identity_code(text) or contains_contact_details(text):
        message = Message(
            "%(label)s must not contain identity codes, phone numbers or email addresses.",
            label=label,
        )
        raise ValidationFailed({field: [message]})
    return text
