"""How the audit trail names a privacy request (`audit.naming`, wired in `create_app`)."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.audit.naming import SubjectName
from cs_register.permissions import Principal
from cs_register.privacy.models import PrivacyRequest


def privacy_request_names(
    session: Session, subject_type: str, public_ids: Collection[str], _viewer: Principal
) -> dict[str, SubjectName] | None:
    """The request's kind and the day it arrived: what a case is about, not whose it is."""
    if subject_type != PrivacyRequest.audit_subject_type:
        return None
    rows = session.execute(
        sa.select(PrivacyRequest.public_id, PrivacyRequest.kind, PrivacyRequest.received_on).where(
            PrivacyRequest.public_id.in_(public_ids)
        )
    ).all()
    found = {row.public_id: row for row in rows}
    return {
        public_id: SubjectName(
            f"{found[public_id].kind.label} request of "
            f"{found[public_id].received_on.strftime('%d.%m.%Y')}",
            endpoint="privacy.case_page",
        )
        if public_id in found
        else SubjectName("deleted privacy request", gone=True)
        for public_id in public_ids
    }
