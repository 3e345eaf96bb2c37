"""The recording lifecycle: storing audio, its retention state, and who may hear what.

Holds are in `recordings.holds`; what the console pages read is in `recordings.listing`.
Services take a `Context` (lookups a session), flush and never commit. Retention arithmetic
comes from `recordings.retention` only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext, ngettext
from sqlalchemy.orm import Session, selectinload

from cs_register import audit
from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.clock import CLOCK_SKEW
from cs_register.contacts.models import Channel, Contact
from cs_register.context import Context
from cs_register.db import on_rollback
from cs_register.errors import Conflict, Gone, ValidationFailed
from cs_register.integrations.models import IntegrationToken
from cs_register.languages import N_
from cs_register.lookup import by_public_id
from cs_register.permissions import (
    ActorKind,
    Permission,
    has_permission,
    require,
)
from recordings import access, retention
from recordings.audio import AudioInfo, make_playback_copy
from recordings.models import Call, Recording, RecordingHold, RecordingState, file_extension
from recordings.retention import RetentionPolicy
from recordings.sealing import sealing_version
from recordings.storage import RecordingStorage, StagedUpload, new_key

log = logging.getLogger(__name__)


def compute_due_at(recording: Recording, policy: RetentionPolicy) -> datetime:
    return recording.schedule(policy).due_at


# A recording this close to its deletion is shown as going, with the time left.
GOING_SOON = timedelta(hours=24)


@dataclass(frozen=True)
class RetentionStatus:
    """What the console shows about a recording's retention, computed by the rules module."""

    label: str  # "kept", "held", "expired", "purging", "purged"
    retain_until: datetime
    cap: datetime
    due_at: datetime
    active_holds: tuple[RecordingHold, ...]
    # How long until the purge takes it; None once it is past its time.
    time_left: timedelta | None = None

    @property
    def servable(self) -> bool:
        return self.label in ("kept", "held")

    @property
    def going_soon(self) -> bool:
        """Within a day of its deletion: the console says when, not just "kept"."""
        return self.time_left is not None and self.time_left <= GOING_SOON

    @property
    def time_left_text(self) -> str:
        """ "2 h", "35 min", "3 days": how long until deletion, rounded down, in the reader's
        language."""
        if self.time_left is None:
            return ""
        minutes = int(self.time_left.total_seconds() // 60)
        if minutes < 60:
            return gettext("%(minutes)s min", minutes=minutes)
        if minutes < 48 * 60:
            return gettext("%(hours)s h", hours=minutes // 60)
        return ngettext("%(num)d day", "%(num)d days", minutes // (24 * 60))


def retention_status(
    recording: Recording, *, now: datetime, policy: RetentionPolicy
) -> RetentionStatus:
    planned = recording.schedule(policy)
    due = planned.due_at
    active = tuple(h for h in recording.holds if h.is_active(now))
    if recording.state is RecordingState.PURGED:
        label = "purged"
    elif recording.state is RecordingState.PURGING:
        label = "purging"
    elif now >= due:
        # Past its time even if the purge has not run yet: treated as gone everywhere.
        label = "expired"
    elif active and due > planned.retain_until:
        label = "held"
    else:
        label = "kept"
    return RetentionStatus(
        label=label,
        retain_until=planned.retain_until,
        cap=planned.cap,
        due_at=due,
        active_holds=active,
        time_left=due - now if label in ("kept", "held") else None,
    )


def get_recording(session: Session, public_id: str) -> Recording:
    holds = selectinload(Recording.holds)
    return by_public_id(
        session, Recording, public_id, missing="No such recording.", options=[holds]
    )


def store_recording(
    ctx: Context,
    storage: RecordingStorage,
    *,
    contact: Contact,
    staged: StagedUpload,
    info: AudioInfo,
    content_type: str,
    recorded_at: datetime,
    policy: RetentionPolicy,
    token: IntegrationToken | None = None,
) -> tuple[Recording, bool]:
    """Keep a validated upload as the recording of `contact`.

    Idempotent: the same bytes again return the existing recording (`created` False); other
    bytes for a contact that already has a recording are a Conflict. The stored file is removed
    again if the transaction rolls back, so a failed request leaves no orphan. A staff member
    uploads from the console (and needs to be allowed to log contacts); an integration with
    `token`.
    """
    session, now = ctx.session, ctx.now
    if ctx.actor.kind is ActorKind.STAFF:
        require(ctx.actor, Permission.LOG_CONTACTS)
    if contact.channel is not Channel.PHONE:
        raise Conflict("Recordings can only be attached to phone contacts.")
    existing = session.scalar(sa.select(Recording).where(Recording.contact_id == contact.id))
    if existing is not None:
        if existing.sha256 == staged.sha256:
            return existing, False
        raise Conflict("This call already has a different recording.")
    if recorded_at > now + CLOCK_SKEW:
        raise ValidationFailed({"recorded_at": N_("The recording start time is in the future.")})
    if retention.is_due(recorded_at, [], policy, now=now):
        # Storing it would break the retention promise the moment it was written.
        message = N_("The recording is older than the retention period; it was not kept.")
        raise ValidationFailed({"recorded_at": message})
    key = new_key()
    # Always a listening copy (`recordings.audio`): the player never serves the original.
    playback_key = new_key(".mp3")
    with storage.staged_upload() as playback_copy:
        make_playback_copy(staged.path, playback_copy)
        storage.put(key, staged)
        on_rollback(session, lambda: storage.delete(key))
        storage.put(playback_key, playback_copy)
        on_rollback(session, lambda: storage.delete(playback_key))
    recording = Recording(
        contact_id=contact.id,
        storage_key=key,
        playback_key=playback_key,
        sha256=staged.sha256,
        key_version=sealing_version(storage),
        size_bytes=staged.size,
        content_type=content_type,
        container=info.container,
        codec=info.codec,
        sample_rate=info.sample_rate,
        channels=info.channels,
        duration_seconds=info.duration_seconds,
        recorded_at=recorded_at,
        due_at=retention.due_at(recorded_at, [], policy),
        uploaded_at=now,
        uploaded_by_id=ctx.actor.staff_id,
        integration_token_id=token.id if token else None,
    )
    session.add(recording)
    session.flush()
    audit.record(
        ctx,
        AuditAction.RECORDING_STORED,
        recording,
        details={
            "contact": contact.public_id,
            "codec": info.codec,
            "duration_seconds": info.duration_seconds,
            "bytes": staged.size,
        },
    )
    return recording, True


def servable_recording(
    ctx: Context,
    *,
    public_id: str,
    policy: RetentionPolicy,
    download: bool,
) -> Recording:
    """The recording if `actor` may hear (or download) it now; Gone once retention has passed."""
    session, now = ctx.session, ctx.now
    require(ctx.actor, Permission.DOWNLOAD_RECORDINGS if download else Permission.PLAY_RECORDINGS)
    recording = get_recording(session, public_id)
    access.check_may_open(session, ctx.actor, recording)
    if not retention_status(recording, now=now, policy=policy).servable:
        raise Gone("This recording's retention period has ended; it is no longer available.")
    return recording


PLAYBACK_COPY_CONTENT_TYPE = "audio/mpeg"


@dataclass(frozen=True)
class PlayerAudio:
    """What the console's player streams for a recording."""

    key: str
    content_type: str
    extension: str


def player_audio(ctx: Context, recording: Recording) -> PlayerAudio:
    """The listening copy. Agents never receive the original's bytes; a recording stored
    before every recording had a copy plays its original only for those who may download it
    anyway (supervisors), until `flask recordings make-playback-copies` has made its copy."""
    if recording.playback_key is not None:
        return PlayerAudio(recording.playback_key, PLAYBACK_COPY_CONTENT_TYPE, "mp3")
    if has_permission(ctx.actor, Permission.DOWNLOAD_RECORDINGS) and recording.storage_key:
        return PlayerAudio(recording.storage_key, recording.content_type, file_extension(recording))
    raise Conflict(
        "This recording cannot be played yet: its listening copy has not been made."
        " A supervisor can listen to it meanwhile."
    )


# A player fetches one listening in many range requests (buffering, seeking, a replay): they
# make one audited listening while they come within this long of the last one audited.
LISTENING_SESSION = timedelta(minutes=5)


def record_listening(
    ctx: Context,
    *,
    recording: Recording,
    download: bool,
) -> None:
    """Audit a download, every time; and a listening, whatever byte range it starts at, once
    per staff member, recording and `LISTENING_SESSION`."""
    if not download and _listened_lately(ctx, recording):
        return
    audit.record(
        ctx,
        AuditAction.RECORDING_DOWNLOADED if download else AuditAction.RECORDING_PLAYED,
        recording,
    )


def _listened_lately(ctx: Context, recording: Recording) -> bool:
    return (
        ctx.session.scalar(
            sa.select(AuditEvent.id)
            .where(
                AuditEvent.action == AuditAction.RECORDING_PLAYED,
                AuditEvent.subject_id == recording.public_id,
                AuditEvent.actor_label == ctx.actor.audit_label,
                AuditEvent.occurred_at > ctx.now - LISTENING_SESSION,
            )
            .limit(1)
        )
        is not None
    )


def recordings_for_contacts(session: Session, contact_ids: Sequence[int]) -> dict[int, Recording]:
    if not contact_ids:
        return {}
    rows = session.scalars(
        sa.select(Recording)
        .where(Recording.contact_id.in_(contact_ids))
        .options(selectinload(Recording.holds))
    ).all()
    return {r.contact_id: r for r in rows if r.contact_id is not None}


def call_for_contact(session: Session, contact_id: int) -> Call | None:
    return session.scalar(sa.select(Call).where(Call.contact_id == contact_id))
