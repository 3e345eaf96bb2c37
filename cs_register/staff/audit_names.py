"""How the audit trail names staff members, as actors and as subjects (`audit.naming`, wired in
`create_app`)."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.audit.naming import SubjectName, name_each
from cs_register.permissions import Principal
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


def staff_subject_names(
    session: Session, subject_type: str, public_ids: Collection[str], _viewer: Principal
) -> dict[str, SubjectName] | None:
    if subject_type != StaffUser.audit_subject_type:
        return None
    return name_each(
        session,
        StaffUser,
        (StaffUser.display_name,),
        public_ids,
        name=lambda row: SubjectName(row.display_name, endpoint="admin.staff_detail"),
        gone=SubjectName("deleted staff account", gone=True),
    )
