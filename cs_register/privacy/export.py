"""The access and portability download: one ZIP with everything held about the person.

The ZIP holds
- `data.json`: the customer record (identity code in full), everything every registered
  personal-data source finds, the recordings' files with their SHA-256, and the access log,
  valid against the published JSON Schema (`export_schema_v1.json`, served and in docs/);
- `recordings/<id>.<ext>`: the audio, byte for byte as received, its SHA-256 checked while
  it is copied;
- `summary.html`: the same in readable form, in Finnish, Swedish or English.

Building it is a job (`jobs.privacy`) or a command (`flask privacy export`), and it commits
on its own, step by step, like the purge: claiming the export, its progress, and the finished
file with its audit row are separate transactions, so the case page shows progress while it
runs and a killed build is simply built again (the partial file never leaves the scratch
area). The file is kept `PRIVACY_EXPORT_DAYS` (default 7) days and then deleted by the job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import Context, job_context
from cs_register.crypto import Keyring
from cs_register.customers.models import Customer
from cs_register.customers.personal_data import data_subject
from cs_register.db import Database
from cs_register.errors import Conflict, NotFound, ValidationFailed
from cs_register.languages import N_
from cs_register.permissions import Permission, require_unless_command
from cs_register.personal_data import Finding, PersonalDataRegistry
from cs_register.privacy import export_data
from cs_register.privacy.cases import get_case, refuse_if_answered
from cs_register.privacy.models import (
    ExportStatus,
    PrivacyExport,
    PrivacyRequest,
    RequestKind,
)
from cs_register.privacy.summary import render_summary

log = logging.getLogger(__name__)

EXPORTABLE_KINDS = frozenset({RequestKind.ACCESS, RequestKind.PORTABILITY})
LANGUAGES = {"fi": "Suomi", "sv": "Svenska", "en": "English"}
# A build that has not finished in this long was killed; the next tick builds it again.
STALE_BUILD = timedelta(minutes=30)
_COPY_CHUNK = 64 * 1024


class ExportStorage(Protocol):
    """What an export needs of a file store (the recordings' storage interface has it)."""

    def staged_upload(self) -> AbstractContextManager[Any]: ...

    def receive(self, staged: Any, chunks: Iterable[bytes], *, max_bytes: int) -> None: ...

    def put(self, key: str, staged: Any) -> None: ...

    def open(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...

    def delete(self, key: str) -> bool: ...

    def scratch_directory(self) -> AbstractContextManager[Path]: ...

    def remove_abandoned_staging(self, *, older_than: datetime) -> int: ...


class ExportFailed(Exception):
    """The export could not be built; the message names the problem, never personal data."""


# --- asking for one -----------------------------------------------------------------------


def request_export(
    ctx: Context, *, case_public_id: str, language: str, confirmed: Iterable[str] = ()
) -> PrivacyExport:
    """Queue the download for an open access or portability case of a registered customer.
    `confirmed`: references of the findings found only by their phone or email that the DPO
    confirmed are theirs (`Finding.needs_confirmation`); the others stay out."""
    require_unless_command(ctx.actor, Permission.HANDLE_PRIVACY_REQUESTS)
    case = get_case(ctx.session, case_public_id)
    if case.kind not in EXPORTABLE_KINDS:
        raise Conflict("Only access and portability requests are answered with a download.")
    if case.customer_id is None:
        raise Conflict("The register holds no data about this requester: nothing to export.")
    refuse_if_answered(case)
    if language not in LANGUAGES:
        # Marked apart from the raise: pybabel does not see an N_ nested in a keyword's call.
        message = N_("Choose Finnish, Swedish or English.")
        raise ValidationFailed({"language": [message]})
    export = PrivacyExport(
        request_id=case.id,
        language=language,
        status=ExportStatus.QUEUED,
        requested_at=ctx.now,
        requested_by_id=ctx.actor.staff_id,
        confirmed_references=sorted({reference[:64] for reference in confirmed}),
    )
    ctx.session.add(export)
    ctx.session.flush()
    audit.record(
        ctx,
        AuditAction.PRIVACY_EXPORT_REQUESTED,
        export,
        details={
            "request": case.public_id,
            "language": language,
            "confirmed_unlinked": len(export.confirmed_references or ()),
        },
    )
    return export


def exports_of_case(session: Session, case: PrivacyRequest) -> list[PrivacyExport]:
    return list(
        session.scalars(
            sa.select(PrivacyExport)
            .where(PrivacyExport.request_id == case.id)
            .order_by(PrivacyExport.requested_at.desc(), PrivacyExport.id.desc())
        )
    )


def exports_to_build(session: Session, *, now: datetime) -> list[str]:
    """Queued exports and builds killed mid-way: the database is the schedule. A failed export
    stays failed (the DPO sees why and asks for a new one)."""
    stale = now - STALE_BUILD
    return list(
        session.scalars(
            sa.select(PrivacyExport.public_id)
            .where(
                sa.or_(
                    PrivacyExport.status == ExportStatus.QUEUED,
                    sa.and_(
                        PrivacyExport.status == ExportStatus.BUILDING,
                        PrivacyExport.started_at < stale,
                    ),
                )
            )
            .order_by(PrivacyExport.id)
        )
    )


# --- building it --------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportInputs:
    """What a build reads besides the database: the registry, keys and the two stores."""

    registry: PersonalDataRegistry
    keyring: Keyring
    exports: ExportStorage
    retention: timedelta  # how long the finished file is kept


Progress = Callable[[int, int], None]


def build_export(
    database: Database,
    inputs: ExportInputs,
    *,
    export_public_id: str,
    now: Callable[[], datetime],
    job_id: str | None = None,
    on_progress: Progress | None = None,
) -> PrivacyExport | None:
    """Build one export; None if it is not (or no longer) waiting to be built.

    Transactions: claim (queued -> building), one per progress step, and the finish (ready,
    audited). A failure marks the export failed with the kind of problem.
    """
    with database.unit_of_work() as session:
        export = session.scalar(
            sa.select(PrivacyExport)
            .where(PrivacyExport.public_id == export_public_id)
            .with_for_update()
        )
        if export is None:
            raise NotFound("No such export.")
        stale = now() - STALE_BUILD
        claimable = export.status is ExportStatus.QUEUED or (
            export.status is ExportStatus.BUILDING
            and export.started_at is not None
            and export.started_at < stale
        )
        if not claimable:
            return None
        export.status = ExportStatus.BUILDING
        export.started_at = now()
        export.steps_done = 0
        export.steps_total = len(inputs.registry.sources) + 2
    try:
        return _build(database, inputs, export_public_id, now, job_id, on_progress)
    except Exception as problem:
        reason = str(problem) if isinstance(problem, ExportFailed) else type(problem).__name__
        # Ids and the kind of problem only: the message of a foreign exception may quote data.
        log.error("privacy export %s failed: %s", export_public_id, reason)
        with database.unit_of_work() as session:
            session.execute(
                sa.update(PrivacyExport)
                .where(PrivacyExport.public_id == export_public_id)
                .values(status=ExportStatus.FAILED, failure=reason[:200], finished_at=now())
            )
        raise


def _step(database: Database, export_public_id: str, done: int, total: int) -> None:
    with database.unit_of_work() as session:
        session.execute(
            sa.update(PrivacyExport)
            .where(PrivacyExport.public_id == export_public_id)
            .values(steps_done=done, steps_total=total)
        )


def _build(
    database: Database,
    inputs: ExportInputs,
    export_public_id: str,
    now: Callable[[], datetime],
    job_id: str | None,
    on_progress: Progress | None,
) -> PrivacyExport | None:
    registry = inputs.registry
    # Read without the write lock: the progress steps below commit while this is open.
    with database.read_only() as session:
        export = session.scalar(
            sa.select(PrivacyExport).where(PrivacyExport.public_id == export_public_id)
        )
        assert export is not None  # claimed above  # noqa: S101
        case = session.get(PrivacyRequest, export.request_id)
        customer = session.get(Customer, case.customer_id) if case and case.customer_id else None
        if case is None or customer is None:
            raise ExportFailed("the request's customer is no longer in the register")
        ctx = job_context(session, job_id=job_id, now=now())
        subject = data_subject(customer)
        files = registry.files(ctx, subject)
        total = len(registry.sources) + len(files) + 2
        done = 0

        def advance() -> None:
            nonlocal done
            done += 1
            _step(database, export_public_id, done, total)
            if on_progress is not None:
                on_progress(done, total)

        confirmed = set(export.confirmed_references or ())
        findings: list[Finding] = []
        for source in registry.sources:
            found = source.find(ctx, subject, tuple(findings))
            # Someone else's call from a shared line stays out unless the DPO confirmed it.
            findings.extend(
                f for f in found if not f.needs_confirmation or f.reference in confirmed
            )
            advance()
        records = export_data.records(findings)
        access_log = export_data.access_log(session, customer, records)
        advance()
        data = export_data.document(
            inputs.keyring,
            case,
            customer,
            records=records,
            files=files,
            access_log=access_log,
            generated_at=now(),
        )
        language = export.language
        case_public_id = case.public_id
    # In the export storage's own scratch area: a build killed mid-way leaves its partial
    # ZIP where the periodic job removes it (`remove_abandoned_staging`).
    with inputs.exports.scratch_directory() as scratch:
        zip_path = scratch / "export.zip"
        with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2))
            for held in files:
                _copy_audio(archive, held.name, held.open(), held.sha256)
                advance()
            archive.writestr("summary.html", render_summary(data, language))
            advance()
        key = _new_key()
        with inputs.exports.staged_upload() as staged:
            with zip_path.open("rb") as handle:
                inputs.exports.receive(
                    staged, iter(lambda: handle.read(_COPY_CHUNK), b""), max_bytes=2**62
                )
            inputs.exports.put(key, staged)
            size, digest = staged.size, staged.sha256
    finished = now()
    with database.unit_of_work() as session:
        export = session.scalar(
            sa.select(PrivacyExport)
            .where(PrivacyExport.public_id == export_public_id)
            .with_for_update()
        )
        assert export is not None  # noqa: S101
        if export.status is not ExportStatus.BUILDING:
            # The customer was erased while this was being built (the erasure marked it
            # failed): the file must not outlive them.
            inputs.exports.delete(key)
            return None
        export.status = ExportStatus.READY
        export.storage_key = key
        export.size_bytes = size
        export.sha256 = digest
        export.steps_done = export.steps_total = total
        export.finished_at = finished
        export.expires_at = finished + inputs.retention
        audit.record(
            job_context(session, job_id=job_id, now=finished),
            AuditAction.PRIVACY_EXPORT_BUILT,
            export,
            details={
                "request": case_public_id,
                "records": len(records),
                "recordings": len(files),
                "access_log": len(access_log),
            },
        )
        session.flush()
        session.expunge(export)
    return export


def _new_key() -> str:
    token = secrets.token_hex(16)
    return f"{token[:2]}/{token}.zip"


def _copy_audio(
    archive: zipfile.ZipFile, name: str, chunks: Iterator[bytes], expected: str
) -> None:
    digest = hashlib.sha256()
    # Audio is compressed already; storing it keeps the copy fast and byte-exact.
    with archive.open(zipfile.ZipInfo(name), "w", force_zip64=True) as target:
        for chunk in chunks:
            digest.update(chunk)
            target.write(chunk)
    if digest.hexdigest() != expected:
        raise ExportFailed("a recording's audio does not match its stored SHA-256")
