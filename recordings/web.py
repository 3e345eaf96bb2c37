"""Request-side access to the recordings machinery configured by the app factory, and the
parts of other packages' pages that show recordings (registered in `create_app`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session

from cs_register import pages
from cs_register.contacts.models import Channel, Contact
from cs_register.web import current_staff, shared
from recordings import access
from recordings.listing import recording_statuses
from recordings.retention import RetentionPolicy
from recordings.storage import RecordingStorage


def current_storage() -> RecordingStorage:
    return shared("storage")


def current_policy() -> RetentionPolicy:
    return shared("retention")


def contact_page_panel(
    session: Session, contact: Contact, now: datetime, extra: Mapping[str, Any]
) -> Markup | None:
    """The call-recording card of a phone contact's page (`pages.CONTACT_PAGE_PANELS`).

    `extra` carries a failed console upload's `upload_errors` and `upload_values`.
    """
    if contact.channel is not Channel.PHONE:
        return None
    recording, status = recording_statuses(
        session, [contact.id], now=now, policy=current_policy()
    ).get(contact.id, (None, None))
    return pages.render_panel(
        "recordings/_contact_recording.html",
        contact=contact,
        recording=recording,
        recording_status=status,
        may_listen=recording is not None and access.may_listen(session, current_staff(), recording),
        upload_errors=extra.get("upload_errors", {}),
        upload_values=extra.get("upload_values", {}),
    )


def timeline_notes(
    session: Session, contact_ids: Sequence[int], now: datetime
) -> dict[int, Markup]:
    """A "▶ recording" link (or "deleted") per contact of a customer's timeline
    (`pages.CONTACT_TIMELINE_NOTES`)."""
    return {
        contact_id: pages.render_panel(
            "recordings/_timeline_note.html",
            recording=recording,
            status=status,
            may_listen=access.may_listen(session, current_staff(), recording),
        )
        for contact_id, (recording, status) in recording_statuses(
            session, contact_ids, now=now, policy=current_policy()
        ).items()
    }
