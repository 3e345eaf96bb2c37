"""The one policy for identity codes in free text, on every channel.

Subjects, notes, chatbot transcripts, email bodies and log lines are stored in clear (or for
years, in the audit trail), while an identity code belongs only in its encrypted, masked,
audited field. So every piece of free text is scanned with the same rule:

- text that arrives from outside (an email, a chat, a PBX) is **redacted** before it is stored:
  the message must still reach an agent, so it is kept with the code replaced;
- text an agent types into the console is **refused** with a message, so the agent can put the
  code where it belongs (the verified identity-code field) instead.

Text bound for the audit trail or for a rectification's reason (stored in clear, or for
years) must not carry phone numbers or email addresses either: `contains_contact_details`
finds them as people type them, with the phonenumbers library's matcher (a spaced national
number such as `040 1234567` included).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

# A henkilötunnus as people type it: DDMMYY, century sign, individual number, check
# character, with stray spaces between the parts. Digit lookarounds keep ticket numbers such
# as 20261123-0042 from looking like a code, while letters glued on ("hetu131052-308T") do
# not hide one. The check character is not verified: a mistyped code is still someone's code.
_IDENTITY_CODE = re.compile(r"(?<!\d)\d{6}\s*[-+A-FU-Y]\s*\d{3}\s*[0-9A-Y](?!\d)", re.IGNORECASE)
# Our public ids are UUIDs, and their hex runs can look like a code (6f123456-7890-...,
# ...-131052a308f1): a match inside one is an id, not a code.
_PUBLIC_ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
IDENTITY_CODE_REDACTED = "[identity code removed]"


def _identity_codes(text: str) -> Iterator[re.Match[str]]:
    ids = [match.span() for match in _PUBLIC_ID.finditer(text)] if "-" in text else []
    for match in _IDENTITY_CODE.finditer(text):
        start, end = match.span()
        if not any(id_start <= start and end <= id_end for id_start, id_end in ids):
            yield match


def contains_identity_code(text: str | None) -> bool:
    """True if `text` holds something shaped like an identity code (also with stray spaces)."""
    return text is not None and next(_identity_codes(text), None) is not None


def redact_identity_codes(text: str, *, marker: str = IDENTITY_CODE_REDACTED) -> str:
    """`text` with every identity code replaced by `marker`."""
    pieces: list[str] = []
    position = 0
    for match in _identity_codes(text):
        pieces.append(text[position : match.start()])
        pieces.append(marker)
        position = match.end()
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


_EMAIL_IN_TEXT = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def contains_contact_details(text: str) -> bool:
    """Phone numbers (as people type them, spaces included) or email addresses in `text`."""
    if _EMAIL_IN_TEXT.search(text):
        return True
    return any(True for _ in phonenumbers.PhoneNumberMatcher(text, "FI"))


def echo_safely(value: str) -> str:
    """`value` to write back into a refused console form: never with an identity code in it
    (the page, its history and the browser's form cache would keep it in clear)."""
    return redact_identity_codes(value)
