"""An export's life after it is built: the DPO's audited download, and its deletion when
its time is up."""

from __future__ import annotations

import sqlalchemy as sa

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import Context
from cs_register.errors import Conflict, Gone, NotFound
from cs_register.permissions import Permission, require
from cs_register.privacy.export import ExportStorage
from cs_register.privacy.models import ExportStatus, PrivacyExport, PrivacyRequest


def download_export(ctx: Context, *, export_public_id: str) -> PrivacyExport:
    """The export to send to the DPO (who alone downloads it); every download is audited."""
    require(ctx.actor, Permission.HANDLE_PRIVACY_REQUESTS)
    export = ctx.session.scalar(
        sa.select(PrivacyExport).where(PrivacyExport.public_id == export_public_id)
    )
    if export is None:
        raise NotFound("No such export.")
    if export.status is ExportStatus.DELETED or (
        export.expires_at is not None and export.expires_at <= ctx.now
    ):
        raise Gone("This export has expired and was deleted; build a new one.")
    if export.status is not ExportStatus.READY or export.storage_key is None:
        raise Conflict("This export is not ready yet.")
    case = ctx.session.get(PrivacyRequest, export.request_id)
    audit.record(
        ctx,
        AuditAction.PRIVACY_EXPORT_DOWNLOADED,
        export,
        details={"request": case.public_id if case else None, "size_bytes": export.size_bytes},
    )
    return export


def delete_expired_exports(ctx: Context, exports: ExportStorage) -> int:
    """Delete every export file past its time; the rows stay, marked deleted (idempotent)."""
    expired = ctx.session.scalars(
        sa.select(PrivacyExport)
        .where(PrivacyExport.status == ExportStatus.READY, PrivacyExport.expires_at <= ctx.now)
        .order_by(PrivacyExport.id)
        .with_for_update()
    ).all()
    for export in expired:
        if export.storage_key is not None:
            exports.delete(export.storage_key)
        export.status = ExportStatus.DELETED
        export.deleted_at = ctx.now
        export.storage_key = None
        audit.record(ctx, AuditAction.PRIVACY_EXPORT_DELETED, export)
    ctx.session.flush()
    return len(expired)
