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


class Message(str):
    """A message with values in it, readable as the English text it is (a `str`: it goes into
    JSON, logs and comparisons like any other) and translatable where it is shown: it keeps
    its msgid and values, and `cs_register.errors.translated` formats the reader's
    translation with them. Extracted by the Makefile's `-k Message`.

        raise ValidationFailed({"notes": [Message("At most %(limit)d characters.", limit=n)]})
    """

    template: str
    values: dict[str, object]

    def __new__(cls, template: str, **values: object) -> Message:
        text = super().__new__(cls, template % values if values else template)
        text.template = template
        text.values = values
        return text
