"""Calls reported by the telephony system, their recordings, and supervisor holds."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cs_register.append_only import install_append_only_guard
from cs_register.contacts.models import Direction
from cs_register.db import Base, PublicIdentified, str_enum
from cs_register.languages import N_
from recordings.retention import HoldPeriod, RetentionPolicy, Schedule, schedule


class RecordingState(enum.Enum):
    ACTIVE = "active"
    # Set (under a row lock) by the purge before the audio is deleted; a hold can no longer
    # be placed from this moment on.
    PURGING = "purging"
    PURGED = "purged"


class HoldReason(enum.Enum):
    QUALITY_DEVELOPMENT = "quality_development"
    COMPLAINT = "complaint"

    @property
    def label(self) -> str:
        return {
            "quality_development": N_("Quality development"),
            "complaint": N_("Complaint"),
        }[self.value]


class Call(PublicIdentified, Base):
    """A call as the PBX reported it. `external_call_id` is the PBX's id and our idempotency key."""

    audit_subject_type: ClassVar[str] = "call"
    __tablename__ = "calls"
    # The console's screen pop and "my recent calls" read an agent's calls by time.
    __table_args__ = (sa.Index("ix_calls_agent_id_started_at", "agent_id", "started_at"),)

    external_call_id: Mapped[str] = mapped_column(sa.String(128), unique=True)
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, "call_direction"))
    # E.164; None when the caller withheld their number.
    customer_number: Mapped[str | None] = mapped_column(sa.String(16))
    agent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id"), unique=True)
    created_at: Mapped[datetime]
    integration_token_id: Mapped[int | None] = mapped_column(sa.ForeignKey("integration_tokens.id"))
    # What the PBX said while the call was live (`recordings.call_events`): when it first rang
    # for an agent and when an agent answered; None when no such event came.
    ringing_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    # When the agent's screen pop first showed this call's customers, and to whom: that showing
    # is a view of personal data, audited once per call and agent, not on every poll.
    pop_shown_at: Mapped[datetime | None]
    pop_shown_to_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))


class Recording(PublicIdentified, Base):
    """The audio of one call, kept unaltered, with the facts needed to prove what it was.

    `due_at` is derived from `recorded_at` and the holds by `recordings.retention` and is kept
    up to date by every hold change. It is stored so the purge sweep can find due recordings
    with an index. The read path still applies the rules module itself.
    """

    audit_subject_type: ClassVar[str] = "recording"
    __tablename__ = "recordings"
    __table_args__ = (
        sa.Index("ix_recordings_state_due_at", "state", "due_at"),
        # Audio references exist exactly while the audio does.
        sa.CheckConstraint(
            "(state = 'purged') = (storage_key IS NULL)", name="storage_key_matches_state"
        ),
        sa.CheckConstraint(
            "contact_id IS NOT NULL OR state = 'purged'", name="only_tombstones_lose_contact"
        ),
    )

    # NULL only on a tombstone whose contact an erasure removed (the receipt still names it).
    contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contacts.id"), unique=True)
    state: Mapped[RecordingState] = mapped_column(
        str_enum(RecordingState, "recording_state"), default=RecordingState.ACTIVE
    )
    storage_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    # A browser-playable copy for codecs browsers cannot play (GSM, G.711); deleted with the
    # original.
    playback_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    # The master key version its audio objects' data keys are wrapped under
    # (`recordings.sealing`); NULL: stored in plaintext, before sealing (or with it off).
    key_version: Mapped[int | None] = mapped_column(sa.SmallInteger)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    container: Mapped[str] = mapped_column(sa.String(32))
    codec: Mapped[str] = mapped_column(sa.String(32))
    sample_rate: Mapped[int]
    channels: Mapped[int]
    duration_seconds: Mapped[float]
    recorded_at: Mapped[datetime]
    due_at: Mapped[datetime]
    uploaded_at: Mapped[datetime]
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    integration_token_id: Mapped[int | None] = mapped_column(sa.ForeignKey("integration_tokens.id"))
    purged_at: Mapped[datetime | None]
    purge_reason: Mapped[str | None] = mapped_column(sa.String(32))
    # Set by reconciliation when the row is stored but its audio file is gone.
    audio_missing_at: Mapped[datetime | None]
    # When the person asked for erasure: from then on only a complaint hold keeps the audio
    # (`recordings.retention`).
    erasure_requested_at: Mapped[datetime | None]

    holds: Mapped[list[RecordingHold]] = relationship(
        back_populates="recording", order_by="RecordingHold.placed_at"
    )

    def schedule(self, policy: RetentionPolicy) -> Schedule:
        """When this recording leaves, by the rules in `recordings.retention`."""
        return schedule(
            self.recorded_at,
            self.hold_periods(),
            policy,
            erasure_requested_at=self.erasure_requested_at,
        )

    def hold_periods(self) -> list[HoldPeriod]:
        """The holds as the retention rules see them (`recordings.retention`)."""
        return [
            HoldPeriod(ends_at=h.ends_at, released_at=h.released_at, reason=h.reason.value)
            for h in self.holds
        ]


class RecordingHold(PublicIdentified, Base):
    """A supervisor's decision to keep one recording longer, never past its 12-month cap."""

    __tablename__ = "recording_holds"
    __table_args__ = (sa.Index("ix_recording_holds_active_ends", "released_at", "ends_at"),)

    recording_id: Mapped[int] = mapped_column(sa.ForeignKey("recordings.id"), index=True)
    reason: Mapped[HoldReason] = mapped_column(str_enum(HoldReason, "hold_reason"))
    reference: Mapped[str] = mapped_column(sa.String(100))
    justification: Mapped[str] = mapped_column(sa.String(2000))
    placed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_users.id"))
    placed_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    released_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    release_note: Mapped[str | None] = mapped_column(sa.String(2000))
    # When the purge sweep noticed the end date had passed and closed the hold.
    ended_at: Mapped[datetime | None]

    recording: Mapped[Recording] = relationship(back_populates="holds")

    def is_active(self, now: datetime) -> bool:
        return self.released_at is None and self.ends_at > now


class PurgeReason(enum.Enum):
    RETENTION_EXPIRED = "retention_expired"
    HOLD_CAP_REACHED = "hold_cap_reached"
    ORPHAN_FILE = "orphan_file"
    ERASURE_REQUEST = "erasure_request"


class PurgeReceipt(Base):
    """Proof that one recording's audio (or one orphan file) was deleted, and why.

    Receipts form a hash chain: `receipt_hash` covers every other field plus the previous
    receipt's hash, so altering or removing a receipt breaks the chain (see
    `recordings.ledger.verify_ledger`). No personal data: ids, digests, dates and reasons only.
    """

    __tablename__ = "purge_receipts"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    # 1, 2, 3, ... without gaps: a missing number is a removed receipt.
    sequence: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    # At most one receipt per recording; NULL for orphan files (unique ignores NULLs).
    recording_id: Mapped[int | None] = mapped_column(sa.ForeignKey("recordings.id"), unique=True)
    recording_public_id: Mapped[str | None] = mapped_column(sa.String(36))
    audio_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    reason: Mapped[PurgeReason] = mapped_column(str_enum(PurgeReason, "purge_reason"))
    recorded_at: Mapped[datetime | None]
    retain_until: Mapped[datetime | None]
    cap: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    purged_at: Mapped[datetime] = mapped_column(index=True)
    job_id: Mapped[str | None] = mapped_column(sa.String(128))
    previous_hash: Mapped[str] = mapped_column(sa.String(64))
    receipt_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


# The ledger is append-only in the database too, like the audit trail.
install_append_only_guard(PurgeReceipt.__table__)  # type: ignore[arg-type]


# Download file name extensions where ffmpeg's container name is not the usual one; other
# containers (wav, mp3, gsm, flac, ogg...) are their own extension.
_CONTAINER_EXTENSIONS = {"mp4": "m4a", "matroska": "mka"}
_EXTENSION = re.compile(r"[a-z0-9]{1,8}")


def file_extension(recording: Recording) -> str:
    extension = _CONTAINER_EXTENSIONS.get(recording.container, recording.container)
    return extension if _EXTENSION.fullmatch(extension) else "bin"
