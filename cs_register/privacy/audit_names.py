"""How the audit trail names a privacy request (`audit.naming`, wired in `create_app`)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from cs_register.audit.naming import SubjectName, name_each
from cs_register.permissions import Principal
from cs_register.privacy.models import PrivacyRequest


def privacy_request_names(
    session: Session, subject_type: str, public_ids: Collection[str], _viewer: Principal
) -> dict[str, SubjectName] | None:
    """The request's kind and the day it arrived: what a case is about, not whose it is."""
    if subject_type != PrivacyRequest.audit_subject_type:
        return None
    return name_each(
        session,
        PrivacyRequest,
        (PrivacyRequest.kind, PrivacyRequest.received_on),
        public_ids,
        name=lambda row: SubjectName(
            f"{row.kind.label} request of {row.received_on.strftime('%d.%m.%Y')}",
            endpoint="privacy.case_page",
        ),
        gone=SubjectName("deleted privacy request", gone=True),
    )
