"""Where a search of the unidentified queue waits while its results are paged.

A phone number or an email address must never reach a URL (browser history, access logs,
the Referer of the next page), yet the results page is a GET so that Back, reload and the
paging links work. So the search form POSTs, the search is kept in the staff member's session
under a random token, and the results page's URL carries only that token. The session is a
signed cookie, readable by whoever holds it, so the value is kept encrypted there, bound to the
staff member and the token: a copied token is worth nothing in another session.
"""

from __future__ import annotations

import base64
import secrets

from flask import session

from cs_register.contacts.queue import QueueSearch
from cs_register.crypto import DecryptionError, Keyring

_SESSION_KEY = "unlinked_searches"
# A few searches stay resolvable (tabs, Back); older ones are forgotten first.
MAX_KEPT = 5


def _binding(staff_id: int | None, token: str, kind: str) -> str:
    return f"{staff_id}|{token}|{kind}"


def remember(keyring: Keyring, staff_id: int | None, search: QueueSearch) -> str:
    """Keep `search` in the session; returns the token the results page's URL names it by."""
    token = secrets.token_urlsafe(12)
    sealed = keyring.queue_search.encrypt(
        search.value, row_id=_binding(staff_id, token, search.kind)
    )
    kept: dict[str, list[str]] = dict(session.get(_SESSION_KEY) or {})
    kept[token] = [search.kind, base64.urlsafe_b64encode(sealed).decode("ascii")]
    # Dicts keep insertion order, also through the cookie's JSON: the oldest go first.
    while len(kept) > MAX_KEPT:
        del kept[next(iter(kept))]
    session[_SESSION_KEY] = kept
    return token


def recall(keyring: Keyring, staff_id: int | None, token: str) -> QueueSearch | None:
    """The search `token` names in this session, or None when it is unknown or unreadable
    (forgotten, another session's, a retired key)."""
    kept = session.get(_SESSION_KEY) or {}
    entry = kept.get(token) if isinstance(kept, dict) else None
    if not isinstance(entry, list) or len(entry) != 2:
        return None
    kind, sealed = entry
    try:
        value = keyring.queue_search.decrypt(
            base64.urlsafe_b64decode(sealed), row_id=_binding(staff_id, token, kind)
        )
    except (DecryptionError, ValueError):
        return None
    return QueueSearch(kind=kind, value=value)
