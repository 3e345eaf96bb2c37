"""The languages the console speaks, by code, each named in itself (as a language menu shows
them). Finnish comes first: it is the deployment default unless `DEFAULT_LANGUAGE` says
otherwise. The catalogs live in `cs_register/translations/<code>/LC_MESSAGES/messages.po`;
English is the source language, so it has no catalog of its own.
"""

from __future__ import annotations

LANGUAGES: dict[str, str] = {"fi": "suomi", "sv": "svenska", "en": "English"}
DEFAULT_LANGUAGE = "fi"
# The languages that need a complete catalog (the suite fails on a missing string).
TRANSLATED_LANGUAGES = ("fi", "sv")


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name for the marker
    """Marks `message` for the catalogs where it is written (an error's title or detail, a
    label defined at import time) and returns it unchanged: it is translated where it is
    shown, in the reader's language (`cs_register.errors`, the `translated` filter)."""
    return message
