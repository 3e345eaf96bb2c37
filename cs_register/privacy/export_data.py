"""What `data.json` of an access or portability download says, and its published JSON Schema
(`export_schema_v1.json`, served and in docs/): the customer record, every finding of the
registered personal-data sources, the recordings' files and the access log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.crypto import Keyring
from cs_register.customers.models import Customer
from cs_register.customers.rectification import current_values
from cs_register.personal_data import Finding, HeldFile
from cs_register.privacy.models import PrivacyRequest
from cs_register.staff.models import StaffUser

SCHEMA_VERSION = 1
SCHEMA_FILE = "export_schema_v1.json"
SCHEMA_ID = "https://cs-register.example/schemas/privacy-export/v1.json"
# The viewings the person is entitled to know of (GDPR article 15: who saw their data).
VIEWING_ACTIONS = (
    AuditAction.CUSTOMER_VIEWED,
    AuditAction.IDENTITY_CODE_REVEALED,
    AuditAction.CONTACT_VIEWED,
    AuditAction.RECORDING_VIEWED,
    AuditAction.RECORDING_PLAYED,
    AuditAction.RECORDING_DOWNLOADED,
    AuditAction.PERSONAL_DATA_REVIEWED,
)


def schema() -> dict[str, Any]:
    """The published JSON Schema of `data.json`."""
    text = resources.files("cs_register.privacy").joinpath(SCHEMA_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def records(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    return [
        {
            "source": finding.source,
            "category": finding.category,
            "table": finding.table,
            "reference": finding.reference,
            "occurred_at": instant(finding.occurred_at),
            "fields": [{"label": label, "value": value} for label, value in finding.fields],
        }
        for finding in findings
    ]


def document(
    keyring: Keyring,
    case: PrivacyRequest,
    customer: Customer,
    *,
    records: list[dict[str, Any]],
    files: Sequence[HeldFile],
    access_log: list[dict[str, Any]],
    generated_at: datetime,
) -> dict[str, Any]:
    """The whole of `data.json`, valid against `schema()`."""
    return {
        "$schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "generated_at": instant(generated_at),
        "request": {
            "id": case.public_id,
            "kind": case.kind.value,
            "received_on": case.received_on.isoformat(),
        },
        "customer": _customer_record(keyring, customer),
        "records": records,
        "recordings": [
            {
                "reference": held.reference,
                "file": held.name,
                "sha256": held.sha256,
                "size_bytes": held.size_bytes,
            }
            for held in files
        ],
        "access_log": access_log,
    }


def instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _customer_record(keyring: Keyring, customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.public_id,
        **current_values(keyring, customer),
        "created_at": instant(customer.created_at),
    }


def access_log(
    session: Session, customer: Customer, records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every time a staff member viewed, played, downloaded or revealed the person's data."""
    references = {customer.public_id} | {record["reference"] for record in records}
    rows = session.execute(
        sa.select(AuditEvent, StaffUser.display_name, StaffUser.role)
        .join(StaffUser, StaffUser.id == AuditEvent.actor_id)
        .where(
            AuditEvent.action.in_(VIEWING_ACTIONS),
            AuditEvent.subject_id.in_(references),
        )
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
    )
    return [
        {
            "at": instant(event.occurred_at),
            "staff": name,
            "role": role.value,
            "action": event.action.value,
            "subject_type": event.subject_type,
            "subject": event.subject_id,
        }
        for event, name, role in rows
    ]
