"""How the audit trail names staff members, as actors and as subjects (`audit.naming`, wired in
`create_app`)."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.audit.naming import SubjectName
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
    query = sa.select(StaffUser.public_id, StaffUser.display_name).where(
        StaffUser.public_id.in_(public_ids)
    )
    found = {public_id: name for public_id, name in session.execute(query)}
    return {
        public_id: SubjectName(found[public_id], endpoint="admin.staff_detail")
        if public_id in found
        else SubjectName("deleted staff account", gone=True)
        for public_id in public_ids
    }
