"""Request bodies the APIs read: capped before they are read whole, and strict JSON.

One home for both, so every endpoint refuses the same things the same way: a body over its
cap is 413 whether it came with a `Content-Length` or chunked, and JSON that is not UTF-8,
carries NaN or Infinity, or nests thousands of brackets deep (which would exhaust Python's
recursion limit) is a 400 problem, never a 500.
"""

from __future__ import annotations

import json

from flask import request

from cs_register.errors import DomainError, PayloadTooLarge
from cs_register.languages import Message


class NotJson(DomainError):
    """The body is not a JSON document (400, the base class's status and title)."""


def read_capped_body(limit: int) -> bytes:
    """The raw body, refusing anything over `limit` bytes before reading it whole."""
    too_large = PayloadTooLarge(
        Message("The request body may be at most %(kib)d KiB.", kib=limit // 1024)
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    # Bodies without a Content-Length (chunked): werkzeug stops reading one byte past the
    # limit, so an endless stream is never buffered, and that extra byte proves it too large.
    request.max_content_length = limit + 1
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise too_large
    return raw


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse_strict_json(raw: bytes | str) -> object:
    """Strict JSON: UTF-8, no NaN/Infinity; anything else is `NotJson` (400)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: thousands of nested brackets; still just "not acceptable JSON".
        raise NotJson("The request body is not valid UTF-8 JSON.") from None
