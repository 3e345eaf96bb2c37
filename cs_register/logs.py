"""Logging set-up with a last line of defence against personal data in log files.

Our code logs ids, never identity codes, phone numbers or email addresses. The redaction filter
catches slips (and third-party messages that quote input) before a record is written, and it
folds line breaks so a crafted value cannot forge extra log lines.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_REDACTIONS = (
    (re.compile(r"\b\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]\b", re.IGNORECASE), "[identity-code]"),
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "[email]"),
    (re.compile(r"\+\d{7,15}\b"), "[phone]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text.replace("\r", "\\r").replace("\n", "\\n")


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        # Format once here, so handlers see only the redacted text.
        record.msg = redact(message)
        record.args = None
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """Configure the root logger once per process (web, worker, CLI)."""
    root = logging.getLogger()
    if any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)


def redacting_filter_for(logger: logging.Logger) -> Any:
    """Attach the filter to a specific logger (used by tests and the RQ worker)."""
    flt = RedactingFilter()
    logger.addFilter(flt)
    return flt
