"""The audit trail as a CSV download: every event the filters match, streamed.

Each event is one line (repeated views are not collapsed: the download is the evidence, the
page is the reading aid). The lines are written from short read-only sessions, a batch at a
time by id, after the request that asked for them has committed its audit row, so a large
download neither holds a writer's turn nor loads the trail into memory. Names are the ones
the page shows the same viewer (`browsing.describe`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from flask import Flask, Response

from cs_register.audit.browsing import describe, detail_items
from cs_register.audit.services import AuditFilter, find_audit_events
from cs_register.clock import local_time
from cs_register.db import Database
from cs_register.permissions import Principal

BATCH = 500
HEADER = (
    "event",
    "time (Helsinki)",
    "actor",
    "action",
    "action code",
    "subject kind",
    "subject",
    "subject id",
    "request",
    "details",
)
# A spreadsheet runs a cell that starts with one of these as a formula (or, with a tab or
# carriage return, may after trimming): such a cell gets a leading apostrophe, which makes it
# text. Staff do not type into the trail, but subject names come from customers' records.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defuse(cell: str) -> str:
    """The cell as a spreadsheet must show it: never as a formula."""
    return f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell


def _lines(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [defuse(cell) for cell in row] for row in rows
    )
    return buffer.getvalue()


def csv_lines(
    app: Flask, database: Database, filters: AuditFilter, viewer: Principal
) -> Iterator[str]:
    """The header, then the matching events newest first, a batch per read-only session."""
    yield _lines([HEADER])
    before: int | None = None
    while True:
        # Outside the request by now: the namers are found through the app's seams.
        with app.app_context(), database.read_only() as session:
            events = list(
                find_audit_events(
                    session, viewer=viewer, filters=filters, limit=BATCH, before_id=before
                )
            )
            if not events:
                return
            # Read now: closing the read-only session expires its rows.
            edge = events[-1].id
            chunk = _lines(
                (
                    str(row.event.id),
                    local_time(row.event.occurred_at, "%d.%m.%Y %H:%M:%S"),
                    row.actor,
                    row.action,
                    row.event.action.value,
                    row.subject_type or "",
                    row.subject.text if row.subject is not None else "",
                    row.event.subject_id or "",
                    row.event.request_id or "",
                    "; ".join(f"{key}: {value}" for key, value in detail_items(row.event.details)),
                )
                for row in describe(session, events, viewer)
            )
        yield chunk
        if len(events) < BATCH:
            return
        before = edge


def csv_response(
    app: Flask, database: Database, filters: AuditFilter, viewer: Principal
) -> Response:
    response = Response(csv_lines(app, database, filters, viewer), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
    # The download names customers: no browser or proxy may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return response
