"""Console pages for call recordings: the recording page, supervisor holds and their overview
pages, and uploading a recording to a phone contact. Playback and download are served on the
same blueprint by `recordings.playback_views`.

Who may see what is decided by `recordings.services` (and, first, by the `@requires` guards):
agents and supervisors see recordings, only supervisors manage holds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from cs_register import pages
from cs_register.clock import parse_local_datetime
from cs_register.contacts.services import get_contact
from cs_register.db import get_session
from cs_register.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from cs_register.free_text import contains_identity_code
from cs_register.identifiers import IdentifierError, whole_number
from cs_register.permissions import Permission, has_permission
from cs_register.web import (
    current_settings,
    current_staff,
    now,
    require_staff,
    requires,
    staff_context,
)
from recordings import holds, listing, playback_views
from recordings.intake import receive_recording
from recordings.ledger import view_purge_history
from recordings.models import HoldReason, Recording, RecordingHold
from recordings.monitor import check_invariants
from recordings.retention import CALENDAR
from recordings.storage import CHUNK_BYTES
from recordings.web import current_policy, current_storage

log = logging.getLogger(__name__)

blueprint = Blueprint("recordings", __name__, template_folder="templates")
blueprint.add_app_template_filter(holds.hold_end_text, "hold_end")
playback_views.register(blueprint)

PAGE_SIZE = 50
ENDING_SOON_DAYS = 14
HOLD_FIELDS = ("reason", "reference", "justification", "ends_on")
_UPLOAD_TYPES_BY_EXTENSION = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "gsm": "audio/gsm",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "m4a": "audio/mp4",
    "flac": "audio/flac",
}


# --- the recording page and holds -------------------------------------------------------------


def calendar_days_until(instant: datetime, current: datetime) -> int:
    """Whole Helsinki calendar days from today to the day of `instant` (0 = today)."""
    return (instant.astimezone(CALENDAR).date() - current.astimezone(CALENDAR).date()).days


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
        raise ValidationFailed({"ends_on": "End date must be a date such as 2027-03-31."}) from None


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
    flash("Hold placed.", "success")
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
    flash("Hold released.", "success")
    return redirect(url_for("recordings.recording_page", public_id=hold.recording.public_id))


# --- supervisor overviews ---------------------------------------------------------------------


@dataclass(frozen=True)
class HoldRow:
    hold: RecordingHold
    recording: Recording
    placed_by: str
    cap: datetime
    days_to_end: int
    days_to_cap: int


@blueprint.get("/holds")
@requires(Permission.MANAGE_HOLDS)
def holds_dashboard() -> Any:
    current = now()
    active = holds.list_active_holds(staff_context(), policy=current_policy())
    rows = [
        HoldRow(
            hold=row.hold,
            recording=row.recording,
            placed_by=row.placed_by,
            cap=row.status.cap,
            days_to_end=calendar_days_until(row.hold.ends_at, current),
            days_to_cap=calendar_days_until(row.status.cap, current),
        )
        for row in active
    ]
    soon = current + timedelta(days=ENDING_SOON_DAYS)
    ending_soon = [row for row in rows if row.hold.ends_at <= soon]
    return render_template(
        "recordings/holds.html",
        rows=rows,
        ending_soon=ending_soon,
        ending_soon_days=ENDING_SOON_DAYS,
    )


@blueprint.get("/recordings")
@requires(Permission.MANAGE_HOLDS)
def recording_list() -> Any:
    current = now()
    label = request.args.get("state") or None
    after = request.args.get("after") or None
    page = listing.list_recordings(
        staff_context(), policy=current_policy(), label=label, after=after, limit=PAGE_SIZE
    )
    rows = [
        {
            "recording": recording,
            "status": status,
            "days_left": calendar_days_until(status.due_at, current),
            "duration": format_duration(recording.duration_seconds),
        }
        for recording, status in page.rows
    ]
    next_url = (
        url_for("recordings.recording_list", state=label, after=page.next_after)
        if page.next_after
        else None
    )
    return render_template(
        "recordings/list.html",
        rows=rows,
        label=label,
        labels=listing.RECORDING_LIST_LABELS,
        paged=after is not None,
        next_url=next_url,
    )


# --- console upload -------------------------------------------------------------------------


def upload_content_type(mimetype: str | None, filename: str) -> str | None:
    """The Content-Type to hand to intake: the browser's if it says audio, else one from the
    file name's extension (browsers send application/octet-stream for e.g. `.gsm`). Intake still
    decodes the bytes whatever the type claims."""
    if mimetype and mimetype.lower().startswith("audio/"):
        return mimetype
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return _UPLOAD_TYPES_BY_EXTENSION.get(extension, mimetype)


def _upload_failed(public_id: str, errors: dict[str, list[str]], status: int = 422) -> Any:
    values = {"recorded_at": request.form.get("recorded_at", "")}
    return pages.render(
        pages.CONTACT_PAGE,
        public_id,
        errors={},
        values={},
        extra={"upload_errors": errors, "upload_values": values},
        status=status,
    )


@blueprint.post("/contacts/<contact_public_id>/recording")
@requires(Permission.LOG_CONTACTS)
def upload_for_contact(contact_public_id: str) -> Any:
    """Attach a recording to a phone contact from the console, through the same intake (and
    the same checks) as the PBX API."""
    contact = get_contact(staff_context(), public_id=contact_public_id)
    upload = request.files.get("audio")
    if upload is None or not upload.filename:
        return _upload_failed(contact.public_id, {"audio": ["Choose the audio file to upload."]})
    raw_recorded_at = request.form.get("recorded_at", "").strip()
    try:
        recorded_at = parse_local_datetime(raw_recorded_at) if raw_recorded_at else None
    except IdentifierError as exc:
        return _upload_failed(contact.public_id, {"recorded_at": [str(exc)]})
    try:
        recording, created = receive_recording(
            staff_context(),
            current_storage(),
            call_or_contact=contact,
            # werkzeug has already spooled the part to a temporary file; it is read on in
            # chunks, so memory use stays at one chunk whatever the size.
            chunks=iter(lambda: upload.stream.read(CHUNK_BYTES), b""),
            content_type=upload_content_type(upload.mimetype, upload.filename),
            # A recording starts with its call unless the agent says otherwise.
            recorded_at=recorded_at or contact.occurred_at,
            max_bytes=current_settings().max_upload_bytes,
            policy=current_policy(),
        )
    except ValidationFailed as failure:
        return _upload_failed(contact.public_id, failure.errors)
    except UnsupportedMediaType:
        message = "The file is not an audio file; choose the call's recording (WAV, MP3, GSM...)."
        return _upload_failed(contact.public_id, {"audio": [message]}, status=415)
    except PayloadTooLarge as too_large:
        return _upload_failed(contact.public_id, {"audio": [too_large.detail]}, status=413)
    flash("Recording stored." if created else "This recording was already stored.", "success")
    return redirect(url_for("recordings.recording_page", public_id=recording.public_id))


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
