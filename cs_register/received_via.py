"""How something a person told the company reached it: one of customer service's three
channels, or a letter. Both a marketing choice (`consents`) and a privacy request (`privacy`)
record it, with the same four answers and the same labels."""

from __future__ import annotations

import enum

from cs_register.languages import N_


class ReceivedVia(enum.Enum):
    PHONE = "phone"
    EMAIL = "email"
    CHATBOT = "chatbot"
    LETTER = "letter"

    @property
    def label(self) -> str:
        """What pages call it: English, marked for the catalogs (`|translated`)."""
        return _LABELS[self]


_LABELS = {
    ReceivedVia.PHONE: N_("Phone"),
    ReceivedVia.EMAIL: N_("Email"),
    ReceivedVia.CHATBOT: N_("Chatbot"),
    ReceivedVia.LETTER: N_("Letter"),
}
