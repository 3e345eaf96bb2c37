"""What the privacy package holds about a person, for the personal-data registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import personal_data as registry
from cs_register.contacts.models import Contact
from cs_register.context import Context
from cs_register.languages import N_
from cs_register.privacy.cases import cases_of_customer, customers_with_open_cases
from cs_register.privacy.export import ExportStorage
from cs_register.privacy.models import (
    ExportStatus,
    PrivacyExport,
    PrivacyRequest,
    RequestKind,
)

# What a closed case says after the person it was about is erased.
ERASED_TEXT = "(erased with the person's data)"
DESCRIPTION = registry.SourceDescription(
    name="privacy",
    title=N_("Privacy requests"),
    retention=N_("No retention rule yet: kept until erased; an open case keeps its own record."),
    tables=(
        registry.claim(
            "privacy_requests",
            N_("Answering the person's data-protection requests within the legal deadline."),
            "description",
            "reply_to",
            "extension_justification",
            "answer",
            "refusal_reason",
        ),
        registry.claim(
            "privacy_exports",
            N_("The person's own download (access, portability), kept a few days."),
            "storage_key",
            "sha256",
        ),
    ),
)
REQUEST = DESCRIPTION.finding_kind("privacy_requests", N_("Privacy request"))
EXPORT = DESCRIPTION.finding_kind("privacy_exports", N_("Data export"))


@dataclass(frozen=True)
class PrivacyRequestRecords(registry.DescribedSource, description=DESCRIPTION):
    """The person's own data-protection requests: what they asked and what they were told."""

    exports: ExportStorage

    def _exports_of(self, subject: registry.DataSubject) -> sa.Select[PrivacyExport]:
        cases = sa.select(PrivacyRequest.id).where(
            PrivacyRequest.customer_id == subject.customer_id
        )
        return sa.select(PrivacyExport).where(PrivacyExport.request_id.in_(cases))

    def keeps(self, session: Session, contact_ids: Sequence[int]) -> dict[int, str]:
        """A contact stays while an open request concerns its customer: it is part of the
        answer (or of what is being erased, rectified or restricted)."""
        open_cases = customers_with_open_cases()
        concerned = session.scalars(
            sa.select(Contact.id).where(
                Contact.id.in_(contact_ids),
                sa.or_(
                    Contact.customer_id.in_(open_cases),
                    Contact.held_for_customer_id.in_(open_cases),
                ),
            )
        )
        return {
            contact_id: "an open privacy request concerns its customer" for contact_id in concerned
        }

    def keeps_customers(
        self, session: Session, customer_ids: Sequence[int], *, due_before: datetime
    ) -> dict[int, str]:
        """A customer record stays while an open request concerns it."""
        concerned = session.scalars(
            customers_with_open_cases().where(PrivacyRequest.customer_id.in_(customer_ids))
        )
        why = "an open privacy request concerns them"
        return {customer_id: why for customer_id in concerned if customer_id is not None}

    def erase_files(self, run: registry.ErasureRun, scope: registry.ErasureScope) -> None:
        """Their downloads hold everything about them: each file goes, then its row says so."""
        if scope.subject is None:
            return
        with run.database.session_factory() as session:
            stored = session.scalars(
                self._exports_of(scope.subject).where(PrivacyExport.storage_key.is_not(None))
            ).all()
            keys = [(export.id, export.storage_key) for export in stored]
        for export_id, key in keys:
            self.exports.delete(key or "")
            with run.database.unit_of_work() as session:
                export = session.get(PrivacyExport, export_id)
                if export is not None and export.storage_key == key:
                    export.storage_key = None
                    export.status = ExportStatus.DELETED
                    export.deleted_at = run.now

    def erase(
        self, ctx: Context, scope: registry.ErasureScope, tally: registry.ErasureTally
    ) -> None:
        """Their cases stay as minimal records (kind, dates, status), no longer linked to
        them; a closed case loses its texts, an open one keeps them to be answered."""
        session = ctx.session
        if scope.subject is None:
            return
        # Locked: a build finishing now either stored its file first (then it is deleted in
        # the next file step) or sees the row failed and deletes its own file.
        for export in session.scalars(self._exports_of(scope.subject).with_for_update()):
            if export.storage_key is not None:
                raise registry.FilesStillStored(f"export {export.public_id}")
            if export.status in (ExportStatus.QUEUED, ExportStatus.BUILDING):
                export.status = ExportStatus.FAILED
                export.failure = "the customer was erased before the export was built"
        for case in cases_of_customer(session, scope.subject.customer_id):
            case.customer_id = None
            if case.status.is_open and case.kind is not RequestKind.ERASURE:
                tally.keep(REQUEST.category, case.public_id, "An open request keeps its record.")
                continue
            case.description = ERASED_TEXT
            case.reply_to = ""
            if case.answer is not None:
                case.answer = ERASED_TEXT
            if case.extension_justification is not None:
                case.extension_justification = ERASED_TEXT
            if case.refusal_reason is not None:
                case.refusal_reason = ERASED_TEXT
            tally.count(REQUEST.category, 1)

    def find(
        self, ctx: Context, subject: registry.DataSubject, earlier: Sequence[registry.Finding]
    ) -> Sequence[registry.Finding]:
        return [
            REQUEST.of(
                case.public_id,
                case.registered_at,
                (N_("Type"), case.kind.label),
                (N_("Status"), case.status.label),
                (N_("Received"), case.received_on.strftime("%d.%m.%Y")),
                (N_("Due"), case.due_on.strftime("%d.%m.%Y")),
                (N_("What was asked"), case.description),
                (N_("Answer"), case.answer or ""),
            )
            for case in reversed(cases_of_customer(ctx.session, subject.customer_id))
        ]
