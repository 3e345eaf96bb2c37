"""How the audit trail names staff members, as actors and as subjects (`audit.naming`, wired in
`create_app`)."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.audit.naming import SubjectName, subject_namer
from cs_register.staff.models import StaffUser


def staff_names(session: Session, staff_ids: Collection[int] | None) -> dict[int, str]:
    """Display names by id; every account (the trail's staff filter) when `staff_ids` is None.
    Accounts are deactivated, never deleted, so every id the trail holds is found."""
    query = sa.select(StaffUser.id, StaffUser.display_name).order_by(
        StaffUser.display_name, StaffUser.id
    )
    if staff_ids is not None:
        query = query.where(StaffUser.id.in_(staff_ids))
    return {staff_id: name for staff_id, name in session.execute(query)}


staff_subject_names = subject_namer(
    StaffUser,
    (StaffUser.display_name,),
    name=lambda row, _viewer: SubjectName(row.display_name, endpoint="admin.staff_detail"),
    gone=SubjectName("deleted staff account", gone=True),
)
