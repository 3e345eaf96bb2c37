"""Where a search of the unidentified queue waits while its results are paged: kept in the
session under a token (`cs_register.kept_searches`), so no phone or email reaches a URL."""

from __future__ import annotations

from cs_register import kept_searches
from cs_register.contacts.queue import QueueSearch
from cs_register.crypto import Keyring

_SLOT = "unlinked_contacts"


def remember(keyring: Keyring, staff_id: int | None, search: QueueSearch) -> str:
    """Keep `search` in the session; returns the token the results page's URL names it by."""
    return kept_searches.remember(keyring, staff_id, _SLOT, search.kind, search.value)


def recall(keyring: Keyring, staff_id: int | None, token: str) -> QueueSearch | None:
    kept = kept_searches.recall(keyring, staff_id, _SLOT, token)
    return QueueSearch(kind=kept[0], value=kept[1]) if kept is not None else None
