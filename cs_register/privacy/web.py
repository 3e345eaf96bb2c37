"""The app's parts the privacy pages and commands need, read from the running app, and the
parts of other pages that show privacy requests (registered in `create_app`)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session

from cs_register import pages, personal_data
from cs_register.clock import local_today
from cs_register.customers.models import Customer
from cs_register.db import get_session
from cs_register.permissions import Permission, has_permission
from cs_register.privacy import cases, deadlines
from cs_register.privacy.export import ExportInputs, ExportStorage
from cs_register.privacy.monitor import count_overdue
from cs_register.web import current_keyring, current_settings, current_staff, now, shared

log = logging.getLogger(__name__)


def current_export_storage() -> ExportStorage:
    return shared("exports")


def current_export_inputs() -> ExportInputs:
    settings = current_settings()
    return ExportInputs(
        registry=personal_data.registry(),
        keyring=current_keyring(),
        exports=current_export_storage(),
        retention=timedelta(days=settings.privacy_export_days),
    )


def customer_page_panel(session: Session, customer: Customer, current: datetime) -> Markup:
    """The customer page's privacy requests (`pages.CUSTOMER_PAGE_PANELS`), with the button
    to register one. Not audited here: the customer page audits its own viewing."""
    staff = current_staff()
    today = local_today(current)
    rows = [
        (case, deadlines.urgency(case.due_on, today, is_open=case.status.is_open))
        for case in cases.cases_of_customer(session, customer.id)
    ]
    return pages.render_panel(
        "privacy/_customer_panel.html",
        customer=customer,
        rows=rows,
        can_register=staff is not None
        and has_permission(staff, Permission.REGISTER_PRIVACY_REQUESTS),
        can_open=staff is not None and has_permission(staff, Permission.VIEW_PRIVACY_REQUESTS),
    )


def overdue_requests_banner() -> dict[str, Any]:
    """`privacy_overdue`: open requests past their due day, for base.html's banner; shown to
    the DPO, who can act on it."""
    staff = current_staff()
    if staff is None or not has_permission(staff, Permission.HANDLE_PRIVACY_REQUESTS):
        return {"privacy_overdue": 0}
    try:
        return {"privacy_overdue": count_overdue(get_session(), today=local_today(now()))}
    except Exception:
        # A banner must never turn a working page (or an error page) into a failure.
        log.exception("privacy deadline check for the banner failed")
        return {"privacy_overdue": 0}
