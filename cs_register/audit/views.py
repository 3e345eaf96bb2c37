"""Audit trail browser for supervisors and the data-protection officer, and its CSV export.

The page reads the trail in words (`browsing`): action labels, staff names, subjects named by
the packages that own them and linked to their pages. Reading the trail is itself written to
the trail; so is every export.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for
from werkzeug.routing import BuildError

from cs_register import audit
from cs_register.audit import browsing
from cs_register.audit.export import csv_response
from cs_register.audit.labels import ACTION_GROUPS, SUBJECT_TYPE_LABELS, action_label
from cs_register.audit.models import AuditAction
from cs_register.audit.naming import staff_names
from cs_register.audit.services import find_audit_events, has_audit_events
from cs_register.db import get_database, get_session
from cs_register.errors import ValidationFailed, translated
from cs_register.permissions import Actor, Permission, Principal, has_permission
from cs_register.web import require_staff, requires, staff_context

blueprint = Blueprint("audit", __name__, template_folder="templates")

PAGE_SIZE = 50


def _subject_link(endpoint: str | None, public_id: str | None, viewer: Principal) -> str | None:
    """A link to the subject's page, only if it has one and the viewer's role may open it
    (the endpoint's own guard says which permission that takes)."""
    if endpoint is None or not public_id:
        return None
    view = current_app.view_functions.get(endpoint)
    required = getattr(view, "required_permission", None)
    if view is None or required is None or not has_permission(viewer, required):
        return None
    rules = current_app.url_map.iter_rules(endpoint)
    argument = next((name for rule in rules for name in rule.arguments), None)
    if argument is None:
        return None
    values: dict[str, Any] = {argument: public_id}
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _browse_link(form: Mapping[str, str], **edge: int) -> str:
    """The browser with the same filters (empty ones left out of the URL)."""
    kept = _used(form)
    kept.update(edge)
    return url_for("audit.browse", **kept)


def _used(form: Mapping[str, str]) -> dict[str, Any]:
    return {name: value for name, value in form.items() if value}


def _form_choices() -> dict[str, Any]:
    """The filter form's lists: actions by group, staff members, kinds of subject."""
    return {
        "action_groups": [
            # In the reader's language's order (the template shows the labels translated).
            (group, sorted(group.actions(), key=lambda action: translated(action_label(action))))
            for group in ACTION_GROUPS
        ],
        "action_label": action_label,
        "staff_choices": staff_names(get_session()),
        "subject_types": SUBJECT_TYPE_LABELS,
        "date_hint": browsing.DATE_FORMAT_HINT,
    }


def _refused(failure: ValidationFailed) -> Any:
    # Rejected values are not put back: someone may have pasted an identity code into the
    # subject box, and it must not come back into the page.
    form = {
        name: "" if name in failure.errors else (request.args.get(name) or "").strip()
        for name in browsing.FILTER_PARAMETERS
    }
    page = render_template(
        "audit/browse.html",
        form=form,
        errors=failure.errors,
        rows=[],
        older_url=None,
        newer_url=None,
        newest_url=None,
        export_url=None,
        **_form_choices(),
    )
    return page, 422


@blueprint.get("/audit")
@requires(Permission.VIEW_AUDIT)
def browse() -> Any:
    viewer = require_staff()
    try:
        filters = browsing.parse_filters(request.args)
    except ValidationFailed as failure:
        return _refused(failure)
    db = get_session()
    events = list(
        find_audit_events(
            db,
            viewer=viewer,
            filters=filters.query,
            limit=PAGE_SIZE,
            before_id=filters.before_id,
            after_id=filters.after_id,
        )
    )
    # Keyset paging: each edge is an id, and one EXISTS beyond it says whether to link on.
    has_older = bool(events) and has_audit_events(
        db, filters=filters.query, before_id=events[-1].id
    )
    has_newer = bool(events) and has_audit_events(db, filters=filters.query, after_id=events[0].id)
    rows = browsing.collapse(browsing.describe(db, events, viewer))
    for row in rows:
        if row.subject is not None and not row.subject.gone:
            row.subject_url = _subject_link(row.subject.endpoint, row.event.subject_id, viewer)
    # Recorded after the query, so the page shows the trail as it stood when it was opened.
    audit.record(
        staff_context(),
        AuditAction.AUDIT_VIEWED,
        details={
            "filters": filters.used,
            "older_page": filters.before_id is not None or filters.after_id is not None,
        },
    )
    return render_template(
        "audit/browse.html",
        form=filters.form,
        errors={},
        rows=rows,
        older_url=_browse_link(filters.form, before=events[-1].id) if has_older else None,
        newer_url=_browse_link(filters.form, after=events[0].id) if has_newer else None,
        newest_url=_browse_link(filters.form) if has_newer else None,
        export_url=url_for("audit.export_csv", **_used(filters.form)),
        **_form_choices(),
    )


@blueprint.get("/audit/export.csv")
@requires(Permission.VIEW_AUDIT)
def export_csv() -> Response | Any:
    """Every event the filters match (not only one page), streamed newest first."""
    viewer = require_staff()
    try:
        filters = browsing.parse_filters(request.args)
    except ValidationFailed as failure:
        return _refused(failure)
    # Written in the request's transaction, which commits before the first line is sent: the
    # export reads in its own read-only sessions, so a long download holds no writer's turn.
    audit.record(
        staff_context(),
        AuditAction.AUDIT_TRAIL_EXPORTED,
        details={"filters": filters.recorded()},
    )
    return csv_response(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        get_database(current_app),
        filters.query,
        Actor.for_staff(viewer),
    )
