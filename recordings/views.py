"""Console pages for call recordings: the recording page, supervisor holds and their overview
pages. Playback and download (`recordings.playback_views`) and uploading a recording to a phone
contact (`recordings.upload_views`), the holds dashboard (`recordings.hold_views`) and the
retention overview (`recordings.overview_views`) are served on the same blueprint.

Who may see what is decided by `recordings.services` (and, first, by the `@requires` guards):
agents and supervisors see recordings, only supervisors manage holds.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from cs_register.db import get_session
from cs_register.errors import ValidationFailed
from cs_register.free_text import contains_identity_code
from cs_register.identifiers import whole_number
from cs_register.languages import N_
from cs_register.permissions import Permission, has_permission
from cs_register.web import (
    current_settings,
    current_staff,
    now,
    require_staff,
    requires,
    staff_context,
)
from recordings import (
    hold_views,
    holds,
    list_filters,
    listing,
    overview_views,
    playback_views,
    upload_views,
)
from recordings.hold_dashboard import calendar_days_until
from recordings.ledger import view_purge_history
from recordings.models import HoldReason
from recordings.monitor import check_invariants
from recordings.retention import CALENDAR
from recordings.web import current_policy

log = logging.getLogger(__name__)

blueprint = Blueprint("recordings", __name__, template_folder="templates")
blueprint.add_app_template_filter(holds.hold_end_text, "hold_end")
playback_views.register(blueprint)
upload_views.register(blueprint)
hold_views.register(blueprint)
overview_views.register(blueprint)

PAGE_SIZE = 50
HOLD_FIELDS = ("reason", "reference", "justification", "ends_on")


# --- the recording page and holds -------------------------------------------------------------


def format_duration(seconds: float) -> str:
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_size(size: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("kB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"


def render_recording_page(
    public_id: str,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    failed_hold: str | None = None,
    status: int = 200,
) -> Any:
    current = now()
    overview = listing.view_recording(staff_context(), public_id=public_id, policy=current_policy())
    cap_day = overview.status.cap.astimezone(CALENDAR).date()
    return (
        render_template(
            "recordings/recording.html",
            overview=overview,
            recording=overview.recording,
            retention=overview.status,
            holds=sorted(overview.recording.holds, key=lambda h: h.placed_at, reverse=True),
            now=current,
            days_left=calendar_days_until(overview.status.due_at, current),
            duration=format_duration(overview.recording.duration_seconds),
            size=format_size(overview.recording.size_bytes),
            reasons=list(HoldReason),
            cap_day=cap_day,
            min_day=current.astimezone(CALENDAR).date(),
            errors=errors or {},
            values=values or {},
            failed_hold=failed_hold,
        ),
        status,
    )


@blueprint.get("/recordings/<public_id>")
@requires(Permission.PLAY_RECORDINGS)
def recording_page(public_id: str) -> Any:
    # The guard names PLAY_RECORDINGS; the service also admits MANAGE_HOLDS. Today both are
    # held by exactly agents and supervisors.
    return render_recording_page(public_id)


def _parse_end_date(raw: str) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        message = N_("End date must be a date such as 2027-03-31.")
        raise ValidationFailed({"ends_on": message}) from None


def _hold_form_values() -> dict[str, str]:
    values = {name: request.form.get(name, "") for name in HOLD_FIELDS}
    for name in ("reference", "justification"):
        if contains_identity_code(values[name]):
            # Identity codes are never written back into a page; the field says so instead.
            values[name] = ""
            values[f"{name}_dropped"] = "1"
    return values


@blueprint.post("/recordings/<public_id>/holds")
@requires(Permission.MANAGE_HOLDS)
def place_hold(public_id: str) -> Any:
    form = request.form
    try:
        holds.place_hold(
            staff_context(),
            recording_public_id=public_id,
            reason=form.get("reason", ""),
            reference=form.get("reference", ""),
            justification=form.get("justification", ""),
            ends_on=_parse_end_date(form.get("ends_on", "")),
            policy=current_policy(),
        )
    except ValidationFailed as failure:
        return render_recording_page(
            public_id, errors=failure.errors, values=_hold_form_values(), status=422
        )
    flash(gettext("Hold placed."), "success")
    return redirect(url_for("recordings.recording_page", public_id=public_id))


@blueprint.post("/holds/<hold_public_id>/release")
@requires(Permission.MANAGE_HOLDS)
def release_hold(hold_public_id: str) -> Any:
    session = get_session()
    try:
        hold = holds.release_hold(
            staff_context(),
            hold_public_id=hold_public_id,
            note=request.form.get("note", ""),
            policy=current_policy(),
        )
    except ValidationFailed as failure:
        hold = holds.get_hold(session, hold_public_id)
        note = request.form.get("note", "")
        return render_recording_page(
            hold.recording.public_id,
            errors=failure.errors,
            values={"note": "" if contains_identity_code(note) else note},
            failed_hold=hold.public_id,
            status=422,
        )
    flash(gettext("Hold released."), "success")
    return redirect(url_for("recordings.recording_page", public_id=hold.recording.public_id))


# --- supervisor overviews ---------------------------------------------------------------------


def _list_filters(errors: list_filters.Errors) -> dict[str, Any]:
    """The recordings list's filters from the query string (no personal data in them)."""
    return {
        "state": request.args.get("state") or None,
        "due_within": list_filters.days_within(
            "due_within", "Due within", maximum=listing.MAX_DUE_WITHIN_DAYS, errors=errors
        ),
        "reason": list_filters.hold_reason(errors),
    }


@blueprint.get("/recordings")
@requires(Permission.MANAGE_HOLDS)
def recording_list() -> Any:
    current = now()
    view = list_filters.FilteredList.from_request(_list_filters)
    filters = view.filters
    rows: list[dict[str, Any]] = []
    next_after = None
    if not view.errors:
        try:
            page = listing.list_recordings(
                staff_context(),
                policy=current_policy(),
                label=filters["state"],
                after=view.after,
                limit=PAGE_SIZE,
                due_within_days=filters["due_within"],
                reason=filters["reason"],
            )
        except ValidationFailed as failure:
            view.errors.update({field: [str(message)] for field, message in failure.errors.items()})
        else:
            contexts = listing.recording_contexts(get_session(), [r for r, _ in page.rows])
            rows = [
                {
                    "recording": recording,
                    "status": status,
                    "context": contexts[recording.id],
                    "days_left": calendar_days_until(status.due_at, current),
                    "duration": format_duration(recording.duration_seconds),
                }
                for recording, status in page.rows
            ]
            next_after = page.next_after
    return view.render(
        "recordings/list.html", next_after, rows=rows, labels=listing.RECORDING_LIST_LABELS
    )


# Receipt sequence numbers are 64-bit (BIGINT); a page link past that is not one of ours.
MAX_SEQUENCE = 2**63 - 1


@blueprint.get("/recordings/purges")
@requires(Permission.VIEW_PURGE_HISTORY)
def purge_history() -> Any:
    # A hand-edited page link (too long, not a number) shows the first page.
    before = whole_number(request.args.get("before"), minimum=1, maximum=MAX_SEQUENCE)
    history = view_purge_history(
        get_session(), actor=require_staff(), before=before, limit=PAGE_SIZE
    )
    next_before = history.page.next_before
    return render_template(
        "recordings/purges.html",
        verification=history.verification,
        receipts=history.page.receipts,
        paged=before is not None,
        next_url=url_for("recordings.purge_history", before=next_before) if next_before else None,
    )


@blueprint.app_context_processor
def purge_backlog_banner() -> dict[str, Any]:
    """`purge_violations`: how many recordings break the retention promise, for base.html's
    banner. Only for roles that can act on it; the query reads due rows through the index."""
    staff = current_staff()
    if staff is None or not has_permission(staff, Permission.VIEW_PURGE_HISTORY):
        return {"purge_violations": 0}
    try:
        settings = current_settings()
        violations = check_invariants(
            get_session(),
            now=now(),
            policy=current_policy(),
            sweep_interval=timedelta(minutes=settings.sweep_interval_minutes),
            log_errors=False,
        )
    except Exception:
        # A banner must never turn a working page (or an error page) into a failure.
        log.exception("purge invariant check for the banner failed")
        return {"purge_violations": 0}
    return {"purge_violations": len(violations)}
