"""The privacy case page as the handler sees it, rendered again after every step (with the
step's errors), and the one rule for showing a refused form's values again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import render_template

from cs_register import personal_data
from cs_register.clock import local_today
from cs_register.contacts.relinking import relinks_in_request
from cs_register.contacts.services import customer_timeline
from cs_register.customers import rectification
from cs_register.customers.personal_data import data_subject
from cs_register.customers.rectification import FIELD_LABELS, RevisionView
from cs_register.db import get_session
from cs_register.free_text import redact_identity_codes
from cs_register.permissions import Permission, has_permission
from cs_register.personal_data import Finding
from cs_register.privacy import cases, deadlines, erasure_receipts, export
from cs_register.privacy.models import PrivacyExport, RequestKind
from cs_register.privacy.web import current_export_inputs
from cs_register.web import current_keyring, current_staff, now, staff_context


def shown_again(values: dict[str, Any]) -> dict[str, Any]:
    """A refused form's values to show again, without the identity codes it was refused for:
    a page must never carry a code in clear."""
    return {
        name: redact_identity_codes(value) if isinstance(value, str) else value
        for name, value in values.items()
    }


def _exports(view: cases.CaseView) -> list[PrivacyExport]:
    return export.exports_of_case(get_session(), view.case)


def _corrections(view: cases.CaseView) -> list[RevisionView]:
    if view.case.kind is not RequestKind.RECTIFICATION or view.customer is None:
        return []
    history = rectification.customer_history(
        staff_context(),
        current_keyring(),
        public_id=view.customer.public_id,
    )
    return cases.corrections_during(view.case, history)


def render_case_page(
    public_id: str,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Any:
    view = cases.view_case(staff_context(), public_id=public_id)
    staff = current_staff()
    return render_template(
        "privacy/case.html",
        view=view,
        case=view.case,
        errors=errors or {},
        values=values or {},
        can_handle=staff is not None and has_permission(staff, Permission.HANDLE_PRIVACY_REQUESTS),
        max_extension=deadlines.MAX_EXTENSION_MONTHS,
        today=local_today(now()),
        ombudsman_notice=cases.OMBUDSMAN_NOTICE,
        exports=_exports(view),
        corrections=_corrections(view),
        field_labels=FIELD_LABELS,
        exportable=view.case.kind in export.EXPORTABLE_KINDS and view.customer is not None,
        languages=export.LANGUAGES,
        export_days=current_export_inputs().retention.days,
        erasure_receipt=erasure_receipts.receipt_of(get_session(), view.case.public_id),
        customer_contacts=_movable_contacts(view),
        to_confirm=_to_confirm(view),
        relinks=relinks_in_request(get_session(), view.case.public_id),
    ), status


def _to_confirm(view: cases.CaseView) -> list[Finding]:
    """What was found only by the person's phone or email, for the DPO to confirm before an
    export includes it (an open access or portability case)."""
    if view.customer is None or view.case.kind not in export.EXPORTABLE_KINDS:
        return []
    if not view.case.status.is_open:
        return []
    found = personal_data.registry().find(staff_context(), data_subject(view.customer))
    return [finding for finding in found if finding.needs_confirmation]


def _movable_contacts(view: cases.CaseView) -> Sequence[Any]:
    """A rectification case's customer's contacts, which the DPO may move to someone else."""
    if view.case.kind is not RequestKind.RECTIFICATION or view.customer is None:
        return ()
    return customer_timeline(get_session(), view.customer.id)
