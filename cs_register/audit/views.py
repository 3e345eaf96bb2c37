"""Audit trail browser for supervisors and the data-protection officer.

Filters travel in the query string so a filtered view can be bookmarked or shared with a
colleague: they are staff usernames, action names, public UUIDs and dates, never personal data
of customers. Reading the trail is itself written to the trail.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from werkzeug.routing import BuildError

from cs_register import audit
from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.audit.services import AuditFilter, find_audit_events
from cs_register.clock import local_day_start
from cs_register.db import get_session
from cs_register.errors import ValidationFailed
from cs_register.identifiers import whole_number
from cs_register.permissions import Permission, StaffPrincipal, has_permission
from cs_register.web import require_staff, requires, staff_context

blueprint = Blueprint("audit", __name__, template_folder="templates")

PAGE_SIZE = 50
# Query-string parameter -> the name recorded in AUDIT_VIEWED (the values are never recorded).
FILTER_PARAMETERS = {
    "actor": "actor",
    "action": "action",
    "subject": "subject_id",
    "from": "from_date",
    "to": "to_date",
}
# Audit subjects that have a console page of their own: subject_type -> endpoint. The endpoint's
# own permission guard decides whether the viewer gets a link (see `_subject_link`).
SUBJECT_PAGES = {
    "customer": "customers.customer_page",
    "contact": "contacts.contact_page",
    "recording": "recordings.recording_page",
}
_ACTOR_LABEL_MAX = 100
_EARLIEST_YEAR = 2000
_LATEST_YEAR = 2999
_MAX_ID = 2**31 - 1


@dataclass
class ParsedFilters:
    """The query string after validation: what to query, and what to put back in the form."""

    query: AuditFilter
    before_id: int | None
    form: dict[str, str]
    used: list[str] = field(default_factory=list)


def parse_filters(args: Mapping[str, str]) -> ParsedFilters:
    """Validate the browser's query string; raises ValidationFailed naming each bad field."""
    errors: dict[str, list[str]] = {}
    form = {name: (args.get(name) or "").strip() for name in FILTER_PARAMETERS}

    actor = form["actor"].lower() or None
    if actor is not None and (
        len(actor) > _ACTOR_LABEL_MAX or not all(ch.isalnum() or ch in "._-" for ch in actor)
    ):
        errors["actor"] = ["Actor must be a staff username (letters, digits, dot, dash, _)."]

    action: AuditAction | None = None
    if form["action"]:
        try:
            action = AuditAction(form["action"])
        except ValueError:
            errors["action"] = ["Choose an action from the list."]

    subject = form["subject"].lower() or None
    if subject is not None:
        try:
            subject = str(uuid.UUID(subject))
        except ValueError:
            errors["subject"] = ["Subject id must be a public id such as 3f2b…-… (a UUID)."]

    from_date = _parse_date(form["from"], "from", errors)
    to_date = _parse_date(form["to"], "to", errors)
    if from_date and to_date and from_date > to_date:
        errors["to"] = ["The end date must not be before the start date."]

    before_id: int | None = None
    raw_before = (args.get("before") or "").strip()
    if raw_before:
        # Ids are 32-bit INTEGER on PostgreSQL; a larger bind value is a database error.
        before_id = whole_number(raw_before, minimum=1, maximum=_MAX_ID)
        if before_id is None:
            errors["before"] = ["The page link is not valid; start again from the newest."]

    if errors:
        raise ValidationFailed(errors)
    return ParsedFilters(
        query=AuditFilter(
            actor_username=actor,
            action=action,
            subject_id=subject,
            since=local_day_start(from_date) if from_date else None,
            # "to" is inclusive for the reader: everything before the next local midnight.
            until=local_day_start(to_date + timedelta(days=1)) if to_date else None,
        ),
        before_id=before_id,
        form=form,
        used=[FILTER_PARAMETERS[name] for name, value in form.items() if value],
    )


def _parse_date(raw: str, name: str, errors: dict[str, list[str]]) -> date | None:
    if not raw:
        return None
    try:
        parsed = date.fromisoformat(raw)
    except ValueError:
        errors[name] = ["Dates are written as YYYY-MM-DD."]
        return None
    # Far-off years would overflow when turned into UTC timestamps (and mean nothing here).
    if not _EARLIEST_YEAR <= parsed.year <= _LATEST_YEAR:
        errors[name] = [f"Dates must be between {_EARLIEST_YEAR} and {_LATEST_YEAR}."]
        return None
    return parsed


def _subject_link(event: AuditEvent, viewer: StaffPrincipal) -> str | None:
    """A link to the subject's page, only if such a page exists and the viewer may open it."""
    endpoint = SUBJECT_PAGES.get(event.subject_type or "")
    if endpoint is None or not event.subject_id:
        return None
    view = current_app.view_functions.get(endpoint)
    required = getattr(view, "required_permission", None)
    if view is None or required is None or not has_permission(viewer, required):
        return None
    rules = current_app.url_map.iter_rules(endpoint)
    argument = next((name for rule in rules for name in rule.arguments), None)
    if argument is None:
        return None
    values: dict[str, Any] = {argument: event.subject_id}
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _detail_items(details: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    def show(value: Any) -> str:
        if isinstance(value, list | tuple):
            return ", ".join(show(item) for item in value)
        if isinstance(value, Mapping):
            return "; ".join(f"{key}={show(item)}" for key, item in value.items())
        if value is None:
            return "—"
        return str(value)

    return [(str(key), show(value)) for key, value in sorted((details or {}).items())]


def _browse_link(form: Mapping[str, str], *, before: int | None = None) -> str:
    """The browser with the same filters (empty ones left out of the URL)."""
    kept: dict[str, Any] = {name: value for name, value in form.items() if value}
    if before is not None:
        kept["before"] = before
    return url_for("audit.browse", **kept)


@blueprint.get("/audit")
@requires(Permission.VIEW_AUDIT)
def browse() -> Any:
    viewer = require_staff()
    try:
        filters = parse_filters(request.args)
    except ValidationFailed as failure:
        # Rejected values are not put back: someone may have pasted an identity code into
        # the subject box, and it must not come back into the page.
        form = {
            name: "" if name in failure.errors else (request.args.get(name) or "").strip()
            for name in FILTER_PARAMETERS
        }
        return (
            render_template(
                "audit/browse.html",
                actions=list(AuditAction),
                form=form,
                errors=failure.errors,
                rows=[],
                older_url=None,
                newest_url=None,
                paged=False,
            ),
            422,
        )
    db = get_session()
    # One extra row tells whether an "older" page exists without a COUNT over the whole trail.
    events = list(
        find_audit_events(
            db,
            viewer=viewer,
            filters=filters.query,
            limit=PAGE_SIZE + 1,
            before_id=filters.before_id,
        )
    )
    has_older = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    rows = [
        {
            "event": event,
            "subject_url": _subject_link(event, viewer),
            "details": _detail_items(event.details),
        }
        for event in events
    ]
    # Recorded after the query, so the page shows the trail as it stood when it was opened.
    audit.record(
        staff_context(),
        AuditAction.AUDIT_VIEWED,
        details={"filters": filters.used, "older_page": filters.before_id is not None},
    )
    return render_template(
        "audit/browse.html",
        actions=list(AuditAction),
        form=filters.form,
        errors={},
        rows=rows,
        older_url=_browse_link(filters.form, before=events[-1].id) if has_older else None,
        newest_url=_browse_link(filters.form),
        paged=filters.before_id is not None,
    )
