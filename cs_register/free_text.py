"""The one policy for identity codes in free text, on every channel.

Subjects, notes, chatbot transcripts, email bodies and log lines are stored in clear (or for
years, in the audit trail), while an identity code belongs only in its encrypted, masked,
audited field. So every piece of free text is scanned with the same pattern:

- text that arrives from outside (an email, a chat, a PBX) is **redacted** before it is stored:
  the message must still reach an agent, so it is kept with the code replaced;
- text an agent types into the console is **refused** with a message, so the agent can put the
  code where it belongs (the verified identity-code field) instead.
"""

from __future__ import annotations

import re

# A henkilötunnus as people type it: DDMMYY, century sign, individual number, check
# character, with stray spaces between the parts. Letter-or-digit lookarounds keep ticket
# numbers such as 20261123-0042 and the hex runs of public ids (UUIDs such as
# 6f123456-7890-...) from looking like a code; punctuation glued on ("hetu_131052-308T",
# "(131052-308T)") does not hide one. The check character is not verified: a mistyped code is
# still someone's code.
IDENTITY_CODE_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])\d{6}\s*[-+A-FU-Y]\s*\d{3}\s*[0-9A-Y](?![0-9A-Za-z])", re.IGNORECASE
)
IDENTITY_CODE_REDACTED = "[identity code removed]"


def contains_identity_code(text: str | None) -> bool:
    """True if `text` holds something shaped like an identity code (also with stray spaces)."""
    return text is not None and IDENTITY_CODE_IN_TEXT.search(text) is not None


def redact_identity_codes(text: str) -> str:
    """`text` with every identity code replaced by a marker an agent recognises."""
    return IDENTITY_CODE_IN_TEXT.sub(IDENTITY_CODE_REDACTED, text)


def redact_optional(text: str | None) -> str | None:
    return None if text is None else redact_identity_codes(text)
