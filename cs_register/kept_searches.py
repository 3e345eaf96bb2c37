"""Where a console search waits while its results are shown, paged and reloaded.

A phone number, an email address, a name or an identity code must never reach a URL (browser
history, access logs, the Referer of the next page), yet a results page should be a GET so
that Back, reload and paging links work (POST/redirect/GET). So a search form POSTs, the
search is kept in the staff member's session under a random token, and the results page's URL
carries only that token. The session is a signed cookie, readable by whoever holds it, so the
value is kept encrypted there, bound to the staff member, the page (`slot`) and the token: a
copied token is worth nothing in another session or on another page.
"""

from __future__ import annotations

import base64
import secrets

from flask import session

from cs_register.crypto import DecryptionError, Keyring

_SESSION_KEY = "kept_searches"
# A few searches per page stay resolvable (tabs, Back); older ones are forgotten first.
MAX_KEPT = 5


def _binding(staff_id: int | None, slot: str, token: str, kind: str) -> str:
    return f"{staff_id}|{slot}|{token}|{kind}"


def remember(keyring: Keyring, staff_id: int | None, slot: str, kind: str, value: str) -> str:
    """Keep the search in the session; returns the token the results page's URL names it by."""
    token = secrets.token_urlsafe(12)
    sealed = keyring.kept_search.encrypt(value, row_id=_binding(staff_id, slot, token, kind))
    every: dict[str, dict[str, list[str]]] = dict(session.get(_SESSION_KEY) or {})
    kept = dict(every.get(slot) or {})
    kept[token] = [kind, base64.urlsafe_b64encode(sealed).decode("ascii")]
    # Dicts keep insertion order, also through the cookie's JSON: the oldest go first.
    while len(kept) > MAX_KEPT:
        del kept[next(iter(kept))]
    every[slot] = kept
    session[_SESSION_KEY] = every
    return token


def recall(keyring: Keyring, staff_id: int | None, slot: str, token: str) -> tuple[str, str] | None:
    """The (kind, value) `token` names on this page in this session, or None when it is
    unknown or unreadable (forgotten, another session's, a retired key)."""
    every = session.get(_SESSION_KEY) or {}
    kept = every.get(slot) if isinstance(every, dict) else None
    entry = kept.get(token) if isinstance(kept, dict) else None
    if not isinstance(entry, list) or len(entry) != 2:
        return None
    kind, sealed = entry
    if not isinstance(kind, str) or not isinstance(sealed, str):
        return None
    try:
        value = keyring.kept_search.decrypt(
            base64.urlsafe_b64decode(sealed), row_id=_binding(staff_id, slot, token, kind)
        )
    except (DecryptionError, ValueError):
        return None
    return kind, value
