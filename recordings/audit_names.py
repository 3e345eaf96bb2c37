"""How the audit trail names a recording or a call (`audit.naming`, wired in `create_app`)."""

from __future__ import annotations

from cs_register.audit.naming import SubjectName, subject_namer
from cs_register.clock import local_time
from recordings.models import Call, Recording, RecordingState

PURGED = SubjectName("purged recording", gone=True)
DELETED_CALL = SubjectName("deleted call", gone=True)


# A recording by when it was recorded; a purged one (its tombstone, or no row left after an
# erasure) says so and leads nowhere.
recording_names = subject_namer(
    Recording,
    (Recording.state, Recording.recorded_at),
    name=lambda row, _viewer: (
        SubjectName(
            f"recording of {local_time(row.recorded_at)}", endpoint="recordings.recording_page"
        )
        if row.state is not RecordingState.PURGED
        else None
    ),
    gone=PURGED,
)
# Calls have no page of their own.
call_names = subject_namer(
    Call,
    (Call.started_at,),
    name=lambda row, _viewer: SubjectName(f"call of {local_time(row.started_at)}"),
    gone=DELETED_CALL,
)
