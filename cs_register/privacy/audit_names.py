"""How the audit trail names a privacy request (`audit.naming`, wired in `create_app`)."""

from __future__ import annotations

from cs_register.audit.naming import SubjectName, subject_namer
from cs_register.privacy.models import PrivacyRequest

# The request's kind and the day it arrived: what a case is about, not whose it is.
privacy_request_names = subject_namer(
    PrivacyRequest,
    (PrivacyRequest.kind, PrivacyRequest.received_on),
    name=lambda row, _viewer: SubjectName(
        f"{row.kind.label} request of {row.received_on.strftime('%d.%m.%Y')}",
        endpoint="privacy.case_page",
    ),
    gone=SubjectName("deleted privacy request", gone=True),
)
