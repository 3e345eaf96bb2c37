"""Data-subject requests as tracked cases: what was asked, by whom, and by when it is due.

A case outlives the customer it concerns (an erasure removes the customer, and the case keeps
its own minimal record), so its link to the customer is nullable and set to NULL on delete.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cs_register.append_only import install_append_only_guard
from cs_register.db import Base, PublicIdentified, str_enum
from cs_register.languages import N_
from cs_register.received_via import ReceivedVia


class RequestKind(enum.Enum):
    ACCESS = "access"
    PORTABILITY = "portability"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    # A privacy complaint: its answer tells the person of their right to complain to the
    # Data Protection Ombudsman.
    COMPLAINT = "complaint"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


# Labels are English (the source language), marked for the catalogs; templates show them
# with `|translated`.
_KIND_LABELS = {
    RequestKind.ACCESS: N_("Access to own data"),
    RequestKind.PORTABILITY: N_("Data portability"),
    RequestKind.RECTIFICATION: N_("Rectification"),
    RequestKind.ERASURE: N_("Erasure"),
    RequestKind.RESTRICTION: N_("Restriction of processing"),
    RequestKind.OBJECTION: N_("Objection to processing"),
    RequestKind.COMPLAINT: N_("Privacy complaint"),
}


class RequestStatus(enum.Enum):
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REFUSED = "refused"

    @property
    def label(self) -> str:
        return {
            "received": N_("Received"),
            "in_progress": N_("In progress"),
            "completed": N_("Completed"),
            "refused": N_("Refused"),
        }[self.value]

    @property
    def is_open(self) -> bool:
        return self in (RequestStatus.RECEIVED, RequestStatus.IN_PROGRESS)


# The statuses of a request still to be answered.
OPEN_STATUSES = tuple(status for status in RequestStatus if status.is_open)


class ErasureState(enum.Enum):
    """An erasure's progress. `erasing`: the recordings and files are being deleted, each in
    its own crash-safe step; the rows go in one last transaction that sets `erased`."""

    ERASING = "erasing"
    ERASED = "erased"


class PrivacyRequest(PublicIdentified, Base):
    audit_subject_type: ClassVar[str] = "privacy_request"
    __tablename__ = "privacy_requests"
    __table_args__ = (
        sa.CheckConstraint("extension_months BETWEEN 0 AND 2", name="extension_at_most_two_months"),
        sa.CheckConstraint(
            "status <> 'refused' OR refusal_reason IS NOT NULL", name="refusal_has_reason"
        ),
    )

    kind: Mapped[RequestKind] = mapped_column(str_enum(RequestKind, "privacy_request_kind"))
    status: Mapped[RequestStatus] = mapped_column(
        str_enum(RequestStatus, "privacy_request_status"), index=True
    )
    # None: the requester is not in the register (answered "no data held" after a search),
    # or the customer has since been erased.
    customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    channel: Mapped[ReceivedVia] = mapped_column(str_enum(ReceivedVia, "privacy_request_channel"))
    received_on: Mapped[date]
    due_on: Mapped[date] = mapped_column(index=True)
    # Which identifiers were checked to confirm the requester is the person (contacts' names).
    verified_identifiers: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    description: Mapped[str] = mapped_column(sa.Text)
    # Where the answer goes, for a requester the register does not hold (or holds no address of).
    reply_to: Mapped[str] = mapped_column(sa.String(200), default="")
    extension_months: Mapped[int] = mapped_column(default=0)
    extension_justification: Mapped[str | None] = mapped_column(sa.Text)
    extension_told_on: Mapped[date | None]
    answer: Mapped[str | None] = mapped_column(sa.Text)
    refusal_reason: Mapped[str | None] = mapped_column(sa.Text)
    registered_at: Mapped[datetime]
    registered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    handled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    started_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    erasure_state: Mapped[ErasureState | None] = mapped_column(
        str_enum(ErasureState, "erasure_state"), index=True
    )
    erasure_started_at: Mapped[datetime | None]
    # Why the last attempt stopped (a class of problem, never personal data); it is retried.
    erasure_failure: Mapped[str | None] = mapped_column(sa.String(200))

    def __repr__(self) -> str:
        return f"<PrivacyRequest {self.id} {self.kind.value} {self.status.value}>"


class ExportStatus(enum.Enum):
    QUEUED = "queued"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"
    # The file is gone (kept only `PRIVACY_EXPORT_DAYS`); the row stays as the record.
    DELETED = "deleted"

    @property
    def label(self) -> str:
        return {
            "queued": N_("Queued"),
            "building": N_("Building"),
            "ready": N_("Ready"),
            "failed": N_("Failed"),
            "deleted": N_("Deleted"),
        }[self.value]


class PrivacyExport(PublicIdentified, Base):
    """One download for an access or portability request: a ZIP built by a job."""

    audit_subject_type: ClassVar[str] = "privacy_export"
    __tablename__ = "privacy_exports"

    request_id: Mapped[int] = mapped_column(sa.ForeignKey("privacy_requests.id"), index=True)
    language: Mapped[str] = mapped_column(sa.String(2))
    status: Mapped[ExportStatus] = mapped_column(
        str_enum(ExportStatus, "privacy_export_status"), index=True
    )
    # Public ids of contacts found only by the person's phone or email that the DPO confirmed
    # are theirs, to be included (`personal_data.Finding.needs_confirmation`).
    confirmed_references: Mapped[list[Any] | None] = mapped_column(sa.JSON, default=list)
    steps_done: Mapped[int] = mapped_column(default=0)
    steps_total: Mapped[int] = mapped_column(default=0)
    storage_key: Mapped[str | None] = mapped_column(sa.String(128))
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    requested_at: Mapped[datetime]
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    deleted_at: Mapped[datetime | None]
    # What went wrong, for the DPO and the operator: a class of problem, never personal data.
    failure: Mapped[str | None] = mapped_column(sa.String(200))

    @property
    def progress_percent(self) -> int:
        if self.status is ExportStatus.READY:
            return 100
        return 100 * self.steps_done // self.steps_total if self.steps_total else 0


class ErasureReceipt(Base):
    """Proof that one erasure was carried out: what went (counts per kind), what was kept and
    why, chained like the purge receipts (`cs_register.privacy.erasure_receipts`). No personal
    data: the case's and the former customer's public ids, counts, reasons and dates."""

    __tablename__ = "erasure_receipts"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    sequence: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    request_public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    customer_public_id: Mapped[str] = mapped_column(sa.String(36))
    erased: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    kept: Mapped[list[Any]] = mapped_column(sa.JSON)
    erased_at: Mapped[datetime] = mapped_column(index=True)
    job_id: Mapped[str | None] = mapped_column(sa.String(128))
    previous_hash: Mapped[str] = mapped_column(sa.String(64))
    receipt_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


install_append_only_guard(ErasureReceipt.__table__)  # type: ignore[arg-type]


class RetentionReceipt(Base):
    """Proof that one batch of customer-service data left when its time was up: which rows
    (an id range and a digest of ids and times), how many of each kind, under which cut-off.
    Chained like the other receipts (`cs_register.privacy.retention_receipts`); no personal
    data."""

    __tablename__ = "retention_receipts"
    # The audit trail's delete guard looks a receipt up by category and id range per row.
    __table_args__ = (sa.Index("ix_retention_receipts_category_last_id", "category", "last_id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    sequence: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    category: Mapped[str] = mapped_column(sa.String(32))
    removed: Mapped[int]
    first_id: Mapped[int] = mapped_column(sa.BigInteger)
    last_id: Mapped[int] = mapped_column(sa.BigInteger)
    rows_sha256: Mapped[str] = mapped_column(sa.String(64))
    erased: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    due_before: Mapped[datetime]
    swept_at: Mapped[datetime] = mapped_column(index=True)
    job_id: Mapped[str | None] = mapped_column(sa.String(128))
    previous_hash: Mapped[str] = mapped_column(sa.String(64))
    receipt_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


install_append_only_guard(RetentionReceipt.__table__)  # type: ignore[arg-type]
