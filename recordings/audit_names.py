"""How the audit trail names a recording or a call (`audit.naming`, wired in `create_app`)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from cs_register.audit.naming import SubjectName, name_each
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
        return name_each(
            session,
            Recording,
            (Recording.state, Recording.recorded_at),
            public_ids,
            name=lambda row: (
                SubjectName(
                    f"recording of {local_time(row.recorded_at)}",
                    endpoint="recordings.recording_page",
                )
                if row.state is not RecordingState.PURGED
                else None
            ),
            gone=PURGED,
        )
    if subject_type == Call.audit_subject_type:
        return name_each(
            session,
            Call,
            (Call.started_at,),
            public_ids,
            name=lambda row: SubjectName(f"call of {local_time(row.started_at)}"),
            gone=DELETED_CALL,
        )
    return None
