"""How the audit trail names a recording or a call (`audit.naming`, wired in `create_app`)."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.audit.naming import SubjectName
from cs_register.clock import local_time
from cs_register.permissions import Principal
from recordings.models import Call, Recording, RecordingState

PURGED = SubjectName("purged recording", gone=True)
DELETED_CALL = SubjectName("deleted call", gone=True)


def recording_and_call_names(
    session: Session, subject_type: str, public_ids: Collection[str], _viewer: Principal
) -> dict[str, SubjectName] | None:
    """A recording by when it was recorded; a purged one (its tombstone, or no row left after
    an erasure) says so and leads nowhere. Calls have no page of their own."""
    if subject_type == Recording.audit_subject_type:
        rows = session.execute(
            sa.select(Recording.public_id, Recording.state, Recording.recorded_at).where(
                Recording.public_id.in_(public_ids)
            )
        ).all()
        found = {row.public_id: row for row in rows}
        recordings: dict[str, SubjectName] = {}
        for public_id in public_ids:
            row = found.get(public_id)
            recordings[public_id] = (
                SubjectName(
                    f"recording of {local_time(row.recorded_at)}",
                    endpoint="recordings.recording_page",
                )
                if row is not None and row.state is not RecordingState.PURGED
                else PURGED
            )
        return recordings
    if subject_type == Call.audit_subject_type:
        query = sa.select(Call.public_id, Call.started_at).where(Call.public_id.in_(public_ids))
        started = {public_id: at for public_id, at in session.execute(query)}
        return {
            public_id: (
                SubjectName(f"call of {local_time(started[public_id])}")
                if public_id in started
                else DELETED_CALL
            )
            for public_id in public_ids
        }
    return None
