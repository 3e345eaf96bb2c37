"""The audit trail table. Append-only: the application never updates a row and deletes one
only when its retention is over, and the database refuses anything else (triggers installed
with the schema, see `cs_register.append_only` and `cs_register.audit.retention`)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cs_register.append_only import install_append_only_guard
from cs_register.db import Base, str_enum


class AuditAction(enum.Enum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGIN_THROTTLED = "login_throttled"
    LOGOUT = "logout"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an action name, not a password
    STAFF_CREATED = "staff_created"
    STAFF_ROLE_CHANGED = "staff_role_changed"
    STAFF_DEACTIVATED = "staff_deactivated"
    STAFF_REACTIVATED = "staff_reactivated"
    STAFF_PASSWORD_RESET = "staff_password_reset"  # noqa: S105 - an action name
    STAFF_SESSIONS_ENDED = "staff_sessions_ended"
    OWN_SESSIONS_ENDED = "own_sessions_ended"
    CUSTOMER_SEARCHED = "customer_searched"
    # A search of the unidentified queue by phone or email; its details name the kind only.
    UNLINKED_CONTACTS_SEARCHED = "unlinked_contacts_searched"
    CUSTOMER_VIEWED = "customer_viewed"
    CUSTOMER_CREATED = "customer_created"
    CUSTOMER_UPDATED = "customer_updated"
    CUSTOMER_HISTORY_VIEWED = "customer_history_viewed"
    IDENTITY_CODE_REVEALED = "identity_code_revealed"
    CONTACT_CREATED = "contact_created"
    CONTACT_VIEWED = "contact_viewed"
    CONTACT_LINKED = "contact_linked"
    CONTACT_RELINKED = "contact_relinked"
    CONTACT_EDITED = "contact_edited"
    IDENTITY_VERIFIED = "identity_verified"
    AUDIT_VIEWED = "audit_viewed"
    # A CSV download of the (filtered) trail; its details name the filters, never people.
    AUDIT_TRAIL_EXPORTED = "audit_trail_exported"
    INTEGRATION_TOKEN_CREATED = "integration_token_created"  # noqa: S105 - an action name
    INTEGRATION_TOKEN_REVOKED = "integration_token_revoked"  # noqa: S105 - an action name
    CALL_REGISTERED = "call_registered"
    # The PBX said a call is ringing or was answered for an agent (the screen pop's source).
    CALL_EVENT_RECEIVED = "call_event_received"
    # An agent's screen pop showed the customers a live call's number matches.
    SCREEN_POP_SHOWN = "screen_pop_shown"
    # An agent's page of their recent calls, with the customers each number matches.
    RECENT_CALLS_VIEWED = "recent_calls_viewed"
    RECORDING_STORED = "recording_stored"
    RECORDING_VIEWED = "recording_viewed"
    RECORDING_PLAYED = "recording_played"
    RECORDING_DOWNLOADED = "recording_downloaded"
    HOLD_PLACED = "hold_placed"
    HOLD_RELEASED = "hold_released"
    CHATBOT_CONTACT_RECEIVED = "chatbot_contact_received"
    WEBHOOK_SECRET_CREATED = "webhook_secret_created"  # noqa: S105 - an action name
    WEBHOOK_SECRET_RETIRED = "webhook_secret_retired"  # noqa: S105 - an action name
    KEY_ROTATION_STARTED = "key_rotation_started"
    KEY_ROTATION_FINISHED = "key_rotation_finished"
    KEY_VERSION_RETIRED = "key_version_retired"
    HANDOVER_CLOSED = "handover_closed"
    # A chatbot handover taken by an agent, given to one by a supervisor, or put back.
    HANDOVER_CLAIMED = "handover_claimed"
    HANDOVER_ASSIGNED = "handover_assigned"
    HANDOVER_RELEASED = "handover_released"
    HOLD_EXPIRED = "hold_expired"
    RECORDING_PURGED = "recording_purged"
    RECORDING_AUDIO_MISSING = "recording_audio_missing"
    ORPHAN_FILE_PURGED = "orphan_file_purged"
    EMAIL_CONTACT_RECEIVED = "email_contact_received"
    PERSONAL_DATA_REVIEWED = "personal_data_reviewed"
    PRIVACY_REQUEST_REGISTERED = "privacy_request_registered"
    PRIVACY_REQUEST_VIEWED = "privacy_request_viewed"
    PRIVACY_QUEUE_VIEWED = "privacy_queue_viewed"
    PRIVACY_REQUEST_STARTED = "privacy_request_started"
    PRIVACY_REQUEST_EXTENDED = "privacy_request_extended"
    PRIVACY_REQUEST_COMPLETED = "privacy_request_completed"
    PRIVACY_REQUEST_REFUSED = "privacy_request_refused"
    PRIVACY_EXPORT_REQUESTED = "privacy_export_requested"
    PRIVACY_EXPORT_BUILT = "privacy_export_built"
    PRIVACY_EXPORT_DOWNLOADED = "privacy_export_downloaded"
    PRIVACY_EXPORT_DELETED = "privacy_export_deleted"
    CUSTOMER_RESTRICTED = "customer_restricted"
    CUSTOMER_RESTRICTION_LIFTED = "customer_restriction_lifted"
    CUSTOMER_OBJECTION_RECORDED = "customer_objection_recorded"
    CUSTOMER_OBJECTION_WITHDRAWN = "customer_objection_withdrawn"
    PRIVACY_ERASURE_STARTED = "privacy_erasure_started"
    PRIVACY_ERASURE_COMPLETED = "privacy_erasure_completed"
    DATA_RETENTION_APPLIED = "data_retention_applied"
    CUSTOMER_CHOICE_RECORDED = "customer_choice_recorded"
    CUSTOMER_CHOICE_ENDED = "customer_choice_ended"
    MARKETING_FEED_READ = "marketing_feed_read"
    STATISTICS_VIEWED = "statistics_viewed"
    STATISTICS_DOWNLOADED = "statistics_downloaded"
    TWO_STEP_ENROLLED = "two_step_enrolled"
    TWO_STEP_FAILED = "two_step_failed"
    RECOVERY_CODE_USED = "recovery_code_used"
    TWO_STEP_RESET = "two_step_reset"
    RECOVERY_CODES_RENEWED = "recovery_codes_renewed"
    PASSKEY_ADDED = "passkey_added"
    PASSKEY_REMOVED = "passkey_removed"
    PASSKEY_USED = "passkey_used"
    STAFF_CHANGE_REQUESTED = "staff_change_requested"
    STAFF_CHANGE_APPROVED = "staff_change_approved"
    STAFF_CHANGE_REJECTED = "staff_change_rejected"
    STAFF_CHANGE_WITHDRAWN = "staff_change_withdrawn"


class AuditEvent(Base):
    """Who did what to which subject, when, in which request.

    `details` holds only non-identifying facts (field names changed, a stated purpose, counts):
    never identity codes, phone numbers or email addresses. `audit.record` enforces that.
    There is no foreign key to the subject, so the trail outlives whatever it describes.
    """

    __tablename__ = "audit_events"

    # 64-bit on PostgreSQL: the trail is append-only and ids are never reused. SQLite's rowid alias
    # must be spelled INTEGER, and is 64-bit anyway.
    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"), index=True)
    # Snapshot of who acted, so the row reads correctly after renames or for system actors.
    actor_label: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[AuditAction] = mapped_column(
        str_enum(AuditAction, "audit_action", checked=False, length=64), index=True
    )
    subject_type: Mapped[str | None] = mapped_column(sa.String(32))
    subject_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


# The one exception to the append-only rule (`cs_register.audit.retention`): an event may be
# deleted only under a retention receipt, appended first, that covers its id and whose
# cut-off it is older than.
REMOVABLE_UNDER_RECEIPT = (
    "EXISTS (SELECT 1 FROM retention_receipts AS receipt"
    " WHERE receipt.category = 'audit_events'"
    " AND OLD.id BETWEEN receipt.first_id AND receipt.last_id"
    " AND OLD.occurred_at <= receipt.due_before)"
)

install_append_only_guard(
    AuditEvent.__table__,  # type: ignore[arg-type]
    removable_when=REMOVABLE_UNDER_RECEIPT,
    after=Base.metadata,
)
