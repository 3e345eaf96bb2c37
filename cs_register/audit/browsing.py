"""Reading the trail for people: the query string's filters, rows in words, and runs of
repeated views shown once.

Filters travel in the query string so a filtered view can be bookmarked or shared with a
colleague, so they hold only what is not personal data: action names, staff ids, kinds of
subject, public ids and dates. A subject is never looked up by name, phone, email or identity
code here; the reader finds its public id on its page.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cs_register.audit.labels import (
    GROUPS_BY_KEY,
    action_label,
    actor_words,
    is_view,
    subject_type_label,
)
from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.audit.naming import SubjectName, staff_names, subject_names
from cs_register.audit.services import AuditFilter
from cs_register.clock import local_day_start
from cs_register.errors import ValidationFailed
from cs_register.identifiers import whole_number
from cs_register.languages import N_
from cs_register.permissions import Principal

# Query-string parameter -> the name AUDIT_VIEWED records when it is used (never its value).
FILTER_PARAMETERS = {
    "action": "action",
    "staff": "staff",
    "subject_type": "subject_type",
    "subject": "subject_id",
    "from": "from_date",
    "to": "to_date",
}
GROUP_PREFIX = "group:"
DATE_FORMAT_HINT = N_("dd.mm.yyyy, e.g. 23.11.2026")
# Repeats of one view closer together than this are one row on the page.
COLLAPSE_WINDOW = timedelta(seconds=1)
_EARLIEST_YEAR = 2000
_LATEST_YEAR = 2999
# Ids are 32-bit INTEGER on PostgreSQL's older schemas; a larger bind value is a database error.
_MAX_ID = 2**31 - 1
_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_SUBJECT_TYPE = re.compile(r"[a-z_]{1,32}")
_BAD_PAGE_LINK = N_("The page link is not valid; start again from the newest.")
# The years of _EARLIEST_YEAR and _LATEST_YEAR, written out for the catalogs.
_YEARS_OUT_OF_RANGE = N_("Dates must be between 2000 and 2999.")


@dataclass
class ParsedFilters:
    """The query string after validation: what to query, and what to put back in the form."""

    query: AuditFilter
    before_id: int | None
    after_id: int | None
    form: dict[str, str]
    used: list[str] = field(default_factory=list)

    def recorded(self) -> dict[str, Any]:
        """The filters as the export's audit row keeps them: ids, kinds and ISO dates only."""
        query = self.query
        values: dict[str, Any] = {
            "action": self.form["action"] or None,
            "staff": query.actor_id,
            "subject_type": query.subject_type,
            "subject_id": query.subject_id,
            "from_date": _iso(self.form["from"]),
            "to_date": _iso(self.form["to"]),
        }
        return {name: value for name, value in values.items() if value is not None}


def parse_filters(args: Mapping[str, str]) -> ParsedFilters:
    """Validate the browser's query string; raises ValidationFailed naming each bad field."""
    errors: dict[str, list[str]] = {}
    form = {name: (args.get(name) or "").strip() for name in FILTER_PARAMETERS}

    actions = _parse_actions(form["action"], errors)

    actor_id: int | None = None
    if form["staff"]:
        actor_id = whole_number(form["staff"], minimum=1, maximum=_MAX_ID)
        if actor_id is None:
            errors["staff"] = [N_("Choose a staff member from the list.")]

    subject_type = form["subject_type"] or None
    if subject_type is not None and not _SUBJECT_TYPE.fullmatch(subject_type):
        errors["subject_type"] = [N_("Choose a kind of subject from the list.")]

    subject = form["subject"].lower() or None
    if subject is not None:
        try:
            subject = str(uuid.UUID(subject))
        except ValueError:
            errors["subject"] = [N_("Subject id must be a public id such as 3f2b…-… (a UUID).")]

    from_date = _parse_date(form["from"], "from", errors)
    to_date = _parse_date(form["to"], "to", errors)
    if from_date and to_date and from_date > to_date:
        errors["to"] = [N_("The end date must not be before the start date.")]

    before_id = _page_edge(args, "before", errors)
    after_id = _page_edge(args, "after", errors)
    if before_id is not None and after_id is not None:
        errors["before"] = [_BAD_PAGE_LINK]

    if errors:
        raise ValidationFailed(errors)
    return ParsedFilters(
        query=AuditFilter(
            actions=actions,
            actor_id=actor_id,
            subject_type=subject_type,
            subject_id=subject,
            since=local_day_start(from_date) if from_date else None,
            # "to" is inclusive for the reader: everything before the next local midnight.
            until=local_day_start(to_date + timedelta(days=1)) if to_date else None,
        ),
        before_id=before_id,
        after_id=after_id,
        form=form,
        used=[FILTER_PARAMETERS[name] for name, value in form.items() if value],
    )


def _parse_actions(raw: str, errors: dict[str, list[str]]) -> frozenset[AuditAction] | None:
    if not raw:
        return None
    if raw.startswith(GROUP_PREFIX):
        group = GROUPS_BY_KEY.get(raw.removeprefix(GROUP_PREFIX))
        if group is not None:
            return group.actions()
    else:
        try:
            return frozenset({AuditAction(raw)})
        except ValueError:
            pass
    errors["action"] = [N_("Choose an action from the list.")]
    return None


def _parse_date(raw: str, name: str, errors: dict[str, list[str]]) -> date | None:
    if not raw:
        return None
    match = _DATE.fullmatch(raw)
    try:
        if match is None:
            raise ValueError(raw)
        day, month, year = (int(part) for part in match.groups())
        parsed = date(year, month, day)
    except ValueError:
        # Written out (not formatted from DATE_FORMAT_HINT) so the catalogs have it whole.
        errors[name] = [N_("Dates are written as dd.mm.yyyy, e.g. 23.11.2026.")]
        return None
    # Far-off years would overflow when turned into UTC timestamps (and mean nothing here).
    if not _EARLIEST_YEAR <= parsed.year <= _LATEST_YEAR:
        errors[name] = [_YEARS_OUT_OF_RANGE]
        return None
    return parsed


def _iso(raw: str) -> str | None:
    """A form date (already validated) as the ISO date the export's audit row keeps."""
    match = _DATE.fullmatch(raw)
    if match is None:
        return None
    day, month, year = (int(part) for part in match.groups())
    return date(year, month, day).isoformat()


def _page_edge(args: Mapping[str, str], name: str, errors: dict[str, list[str]]) -> int | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    edge = whole_number(raw, minimum=1, maximum=_MAX_ID)
    if edge is None:
        errors["before"] = [_BAD_PAGE_LINK]
    return edge


@dataclass
class Row:
    """One line of the trail as read: an event, or a run of identical views (`count` > 1)."""

    event: AuditEvent
    action: str
    actor: str
    subject_type: str | None
    subject: SubjectName | None
    subject_url: str | None = None
    count: int = 1
    # The run's oldest event's time (the newest is `event.occurred_at`).
    earliest: datetime | None = None

    @property
    def details(self) -> list[tuple[str, str]]:
        return detail_items(self.event.details)


def describe(session: Session, events: Sequence[AuditEvent], viewer: Principal) -> list[Row]:
    """The events in words, names looked up once per page: one question for the staff who
    acted and one per kind of subject, whatever the number of rows."""
    actors = staff_names(session, {e.actor_id for e in events if e.actor_id is not None})
    subjects = subject_names(session, ((e.subject_type, e.subject_id) for e in events), viewer)
    rows = []
    for event in events:
        key = (event.subject_type or "", event.subject_id or "")
        subject = subjects.get(key)
        if subject is None and event.subject_type:
            # A kind no package names (a retention receipt, a stored file): its kind only.
            subject = SubjectName(subject_type_label(event.subject_type))
        rows.append(
            Row(
                event=event,
                action=action_label(event.action),
                actor=actor_words(
                    event.actor_label,
                    actors.get(event.actor_id) if event.actor_id is not None else None,
                ),
                subject_type=subject_type_label(event.subject_type) if event.subject_type else None,
                subject=subject,
            )
        )
    return rows


def _same_view(run: Row, event: AuditEvent) -> bool:
    first = run.event
    return (
        is_view(event.action)
        and event.action is first.action
        and event.actor_id == first.actor_id
        and event.actor_label == first.actor_label
        and event.subject_type == first.subject_type
        and event.subject_id == first.subject_id
        and abs(first.occurred_at - event.occurred_at) < COLLAPSE_WINDOW
    )


def collapse(rows: Iterable[Row]) -> list[Row]:
    """Adjacent repeats of one view (same actor, action and subject) less than a second
    after the run's newest are shown once with their count. A reload or a player's range
    requests write such runs; the rows themselves stay (the trail is append-only), and the
    CSV export lists every one. The window is measured from the run's newest event, so a
    steady stream of views does not fold into a single row."""
    shown: list[Row] = []
    for row in rows:
        if shown and _same_view(shown[-1], row.event):
            shown[-1].count += 1
            shown[-1].earliest = row.event.occurred_at
        else:
            shown.append(row)
    return shown


def detail_items(details: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    def show(value: Any) -> str:
        if isinstance(value, list | tuple):
            return ", ".join(show(item) for item in value)
        if isinstance(value, Mapping):
            return "; ".join(f"{key}={show(item)}" for key, item in value.items())
        if value is None:
            return "—"
        return str(value)

    return [(str(key), show(value)) for key, value in sorted((details or {}).items())]
