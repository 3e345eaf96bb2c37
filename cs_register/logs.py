"""Logging set-up with a last line of defence against personal data in log files.

Our code logs ids, never identity codes, phone numbers or email addresses. The redaction filter
catches slips (and third-party messages that quote input) before a record is written, and it
folds line breaks so a crafted value cannot forge extra log lines.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cs_register.free_text import redact_identity_codes

_REDACTIONS = (
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "[email]"),
    # E.164 as stored, and the spaced international form the console displays.
    (re.compile(r"\+\d{1,3}(?:[ -]?\d){6,14}\b"), "[phone]"),
)
# Everything str.splitlines() would break on: a log reader may split on any of them.
_LINE_BREAKS = {
    ord(ch): f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
    for ch in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
} | {ord("\r"): "\\r", ord("\n"): "\\n"}
_EXCEPTION_FORMATTER = logging.Formatter()


def redact_personal_data(text: str) -> str:
    """Replace identity codes, email addresses and phone numbers; line breaks are kept."""
    # Identity codes by the same rule as every channel's free text (cs_register.free_text).
    text = redact_identity_codes(text, marker="[identity-code]")
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def redact(text: str) -> str:
    """One safe log line: personal data replaced, line breaks shown as escapes."""
    return redact_personal_data(text).translate(_LINE_BREAKS)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        # Format once here, so handlers see only the redacted text.
        record.msg = redact(message)
        record.args = None
        # Exception messages quote data too (PostgreSQL's "Key (email)=(...) already
        # exists"). Tracebacks keep their line breaks; the formatter uses exc_text as given.
        if record.exc_info and not record.exc_text:
            record.exc_text = _EXCEPTION_FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_personal_data(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_personal_data(record.stack_info)
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        return True


class RedactingFormatter(logging.Formatter):
    """Formats a redacted copy of each record.

    The record itself is left as it was, because other handlers in the same process (a test's
    log capture, for instance) must see what our code actually logged. A leak must show there,
    not be hidden by this filter.
    """

    def format(self, record: logging.LogRecord) -> str:
        copy = logging.makeLogRecord(record.__dict__)
        RedactingFilter().filter(copy)
        return super().format(copy)


class UtcRedactingFormatter(RedactingFormatter):
    """Text lines stamped in UTC, with the offset written out (hosts in several time zones,
    or one that changes to summer time, must still sort and correlate)."""

    def converter(self, seconds: float | None) -> time.struct_time:
        return time.gmtime(seconds)

    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03d+00:00"


class JsonRedactingFormatter(RedactingFormatter):
    """One JSON object per line, for a log collector: time (UTC), level, logger, request id,
    message and any traceback, all redacted like the text lines."""

    def format(self, record: logging.LogRecord) -> str:
        copy = logging.makeLogRecord(record.__dict__)
        RedactingFilter().filter(copy)
        entry = {
            "time": datetime.fromtimestamp(copy.created, UTC).isoformat(timespec="milliseconds"),
            "level": copy.levelname,
            "logger": copy.name,
            "request_id": getattr(copy, "request_id", "-"),
            "message": copy.getMessage(),
        }
        if copy.exc_text:
            entry["exception"] = copy.exc_text
        return json.dumps(entry, ensure_ascii=False)


def json_lines_wanted(env: Mapping[str, str] = os.environ) -> bool:
    """`LOG_FORMAT=json` asks for JSON lines (read before the settings: jobs log from the
    first line)."""
    return env.get("LOG_FORMAT", "").strip().lower() == "json"


def configure_logging(level: int = logging.INFO, *, json_lines: bool | None = None) -> None:
    """Configure the root logger once per process (web, worker, CLI)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, RedactingFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    if json_lines if json_lines is not None else json_lines_wanted():
        handler.setFormatter(JsonRedactingFormatter())
    else:
        handler.setFormatter(
            UtcRedactingFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root.addHandler(handler)
    root.setLevel(level)


def redacting_filter_for(logger: logging.Logger) -> Any:
    """Attach the filter to one logger whose records must be redacted in place."""
    flt = RedactingFilter()
    logger.addFilter(flt)
    return flt
