"""Key rotation: move everything encrypted under older master key versions to a new one.

`start_rotation` records a rotation to the keyring's current (highest) version; `run_rotation`
then works through it in phases, each a walk by id in small batches, and commits the batch
together with the rotation's progress (phase, id cursor, counts). So a worker killed at any
moment (kill -9 included) loses at most one batch's work, which the next run redoes: every
step is idempotent (a row or object already under the target version is left alone).

- identity codes: decrypted and encrypted again, with their blind index, under the target;
- revision values, authenticator secrets, webhook secrets: encrypted again;
- recordings: both audio objects re-sealed (`SealedStorage.reseal`): a sealed object gets a new
  header with its data key wrapped under the target (its segments are copied unchanged, so
  each object is copied once); a plaintext one, stored before sealing, is sealed.

An old version may be retired only when `usage` finds nothing under it. Nothing here logs,
audits or returns key material: only versions, counts and the rotation's public id.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import Context, job_context
from cs_register.crypto import FieldCipher, Keyring
from cs_register.customers.models import Customer, CustomerRevision
from cs_register.customers.rectification import revision_binding
from cs_register.db import Base, Database, PublicIdentified
from cs_register.errors import Conflict
from cs_register.integrations.models import WebhookSecret
from cs_register.permissions import require_deployment
from cs_register.staff.models import StaffUser
from recordings.models import Recording, RecordingState
from recordings.sealing import SealedStorage
from recordings.storage import RecordingStorage

ROW_BATCH = 200
# Each recording is two objects copied inside its batch's transaction: small batches keep the
# rows locked (and, on SQLite, the writers waiting) briefly.
RECORDING_BATCH = 10


class Phase(enum.Enum):
    IDENTITY_CODES = "identity_codes"
    REVISION_VALUES = "revision_values"
    TOTP_SECRETS = "totp_secrets"
    WEBHOOK_SECRETS = "webhook_secrets"
    RECORDINGS = "recordings"
    FINISHED = "finished"


PHASES = list(Phase)


class KeyRotation(PublicIdentified, Base):
    """One rotation's progress; holds no personal data (versions, an id cursor, counts)."""

    __tablename__ = "key_rotations"
    audit_subject_type: ClassVar[str] = "key_rotation"

    target_version: Mapped[int] = mapped_column(sa.SmallInteger)
    phase: Mapped[str] = mapped_column(sa.String(32), default=Phase.IDENTITY_CODES.value)
    # The last id of the current phase's table that is done.
    cursor: Mapped[int] = mapped_column(default=0)
    rows_done: Mapped[int] = mapped_column(default=0)
    objects_done: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


def start_rotation(ctx: Context, keyring: Keyring) -> KeyRotation:
    """Record a rotation to the keyring's current version (audited); the job runs it."""
    require_deployment(ctx.actor)
    version = keyring.current_version
    rotation = KeyRotation(
        target_version=version,
        phase=Phase.IDENTITY_CODES.value,
        cursor=0,
        rows_done=0,
        objects_done=0,
        started_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(rotation)
    ctx.session.flush()
    audit.record(ctx, AuditAction.KEY_ROTATION_STARTED, rotation, {"version": version})
    return rotation


def latest_rotation(session: Session) -> KeyRotation | None:
    return session.scalar(sa.select(KeyRotation).order_by(KeyRotation.id.desc()).limit(1))


def unfinished_rotations(session: Session, version: int) -> list[str]:
    """The public ids of the rotations to `version` started and not finished (normally at most
    one), oldest first: what a resumed run carries on. Rotations to an older version are left
    alone: the one to the newest version moves their data too."""
    return list(
        session.scalars(
            sa.select(KeyRotation.public_id)
            .where(
                KeyRotation.target_version == version,
                KeyRotation.phase != Phase.FINISHED.value,
            )
            .order_by(KeyRotation.id)
        )
    )


def phase_progress(session: Session, rotation: KeyRotation) -> tuple[int, int]:
    """How many rows of the current phase's table are done, of how many (rows added since the
    phase began are counted too, so the total may grow)."""
    if rotation.phase == Phase.FINISHED.value:
        return (0, 0)
    model: Any = _PHASE_MODELS[Phase(rotation.phase)]
    query = sa.select(sa.func.count()).select_from(model)
    if model is Recording:
        query = query.where(Recording.state == RecordingState.ACTIVE)
    done = session.scalar(query.where(model.id <= rotation.cursor)) or 0
    return done, session.scalar(query) or 0


# --- the phases --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Batch:
    last_id: int | None  # None: the phase has no rows left
    rows: int = 0
    objects: int = 0


def _reencrypt(cipher: FieldCipher, ciphertext: bytes | None, row_id: str) -> bytes | None:
    """`ciphertext` under the cipher's current version, or None when it needs no change."""
    if ciphertext is None or cipher.version_of(ciphertext) == cipher.current_version:
        return None
    return cipher.encrypt(cipher.decrypt(ciphertext, row_id=row_id), row_id=row_id)


def _rows(session: Session, model: Any, after: int, limit: int) -> list[Any]:
    return list(
        session.scalars(
            sa.select(model)
            .where(model.id > after)
            .order_by(model.id)
            .limit(limit)
            .with_for_update()
        )
    )


def _identity_codes(session: Session, keyring: Keyring, after: int) -> _Batch:
    cipher = keyring.identity_code
    customers = _rows(session, Customer, after, ROW_BATCH)
    changed = 0
    for customer in customers:
        if customer.identity_code_ciphertext is None:
            continue
        if customer.identity_code_key_version == cipher.current_version:
            continue
        code = cipher.decrypt(customer.identity_code_ciphertext, row_id=customer.public_id)
        customer.identity_code_ciphertext = cipher.encrypt(code, row_id=customer.public_id)
        customer.identity_code_index = cipher.blind_index(code)
        customer.identity_code_key_version = cipher.current_version
        changed += 1
    return _Batch(customers[-1].id if customers else None, rows=changed)


def _revision_values(session: Session, keyring: Keyring, after: int) -> _Batch:
    cipher = keyring.revision_value
    revisions = _rows(session, CustomerRevision, after, ROW_BATCH)
    changed = 0
    for revision in revisions:
        customer = session.get(Customer, revision.customer_id)
        if customer is None:
            continue
        for side in ("old", "new"):
            column = f"{side}_value_ciphertext"
            binding = revision_binding(customer, revision.field, revision.id, side)
            fresh = _reencrypt(cipher, getattr(revision, column), binding)
            if fresh is not None:
                setattr(revision, column, fresh)
                changed += 1
    return _Batch(revisions[-1].id if revisions else None, rows=changed)


def _secrets(
    model: Any, cipher_of: Callable[[Keyring], Any], columns: tuple[str, ...], binding: str
) -> Callable[[Session, Keyring, int], _Batch]:
    """A phase that re-encrypts `columns` of `model`'s rows, each bound to `binding` filled
    with the row's public id (the associated data it was sealed with)."""

    def phase(session: Session, keyring: Keyring, after: int) -> _Batch:
        rows = _rows(session, model, after, ROW_BATCH)
        changed = 0
        for row in rows:
            for column in columns:
                fresh = _reencrypt(
                    cipher_of(keyring),
                    getattr(row, column),
                    binding.format(public_id=row.public_id),
                )
                if fresh is not None:
                    setattr(row, column, fresh)
                    changed += 1
        return _Batch(rows[-1].id if rows else None, rows=changed)

    return phase


# Staff members' authenticator secrets (the one in use and one being enrolled).
_totp_secrets = _secrets(
    StaffUser,
    lambda keyring: keyring.totp_secret,
    ("totp_secret_ciphertext", "totp_pending_ciphertext"),
    "staff_user:{public_id}",
)
# The chatbot platform's webhook signing secrets.
_webhook_secrets = _secrets(
    WebhookSecret, lambda keyring: keyring.webhook_secret, ("secret_ciphertext",), "{public_id}"
)


def _recordings(storage: RecordingStorage) -> Callable[[Session, Keyring, int], _Batch]:
    def phase(session: Session, keyring: Keyring, after: int) -> _Batch:
        if not isinstance(storage, SealedStorage):
            return _Batch(None)  # no sealing at all: nothing to put under a key
        version = keyring.current_version
        # Locked: a purge claims its rows under the same lock, so an object is never written
        # back after the purge deleted it.
        recordings = list(
            session.scalars(
                sa.select(Recording)
                .where(Recording.id > after, Recording.state == RecordingState.ACTIVE)
                .order_by(Recording.id)
                .limit(RECORDING_BATCH)
                .with_for_update()
            )
        )
        objects = 0
        for recording in recordings:
            if recording.key_version == version:
                continue
            if recording.key_version is None and not storage.seal_new:
                continue  # sealing new recordings is off: plaintext ones stay as they are
            for key in (recording.storage_key, recording.playback_key):
                if key and storage.exists(key) and storage.reseal(key, version=version):
                    objects += 1
            recording.key_version = version
        return _Batch(recordings[-1].id if recordings else None, objects=objects)

    return phase


_PHASE_MODELS: dict[Phase, type[Base]] = {
    Phase.IDENTITY_CODES: Customer,
    Phase.REVISION_VALUES: CustomerRevision,
    Phase.TOTP_SECRETS: StaffUser,
    Phase.WEBHOOK_SECRETS: WebhookSecret,
    Phase.RECORDINGS: Recording,
}


def run_rotation(
    database: Database,
    keyring: Keyring,
    storage: RecordingStorage,
    public_id: str,
    *,
    clock: Callable[[], datetime],
    job_id: str | None = None,
    max_batches: int | None = None,
) -> KeyRotation | None:
    """Carry the rotation `public_id` on from where it stopped, one committed batch at a time,
    until it is finished (audited) or `max_batches` batches are done. Returns its progress,
    detached; None if there is no such rotation."""
    steps: dict[Phase, Callable[[Session, Keyring, int], _Batch]] = {
        Phase.IDENTITY_CODES: _identity_codes,
        Phase.REVISION_VALUES: _revision_values,
        Phase.TOTP_SECRETS: _totp_secrets,
        Phase.WEBHOOK_SECRETS: _webhook_secrets,
        Phase.RECORDINGS: _recordings(storage),
    }
    batches = 0
    while max_batches is None or batches < max_batches:
        with database.unit_of_work() as session:
            rotation = session.scalar(
                sa.select(KeyRotation).where(KeyRotation.public_id == public_id).with_for_update()
            )
            if rotation is None:
                return None
            if rotation.phase == Phase.FINISHED.value:
                session.expunge(rotation)
                return rotation
            if rotation.target_version != keyring.current_version:
                raise Conflict(
                    f"this process's current key version is {keyring.current_version}, the"
                    f" rotation's is {rotation.target_version}: configure the same key versions"
                )
            phase = Phase(rotation.phase)
            batch = steps[phase](session, keyring, rotation.cursor)
            now = clock()
            rotation.rows_done += batch.rows
            rotation.objects_done += batch.objects
            rotation.updated_at = now
            if batch.last_id is None:
                rotation.phase = PHASES[PHASES.index(phase) + 1].value
                rotation.cursor = 0
            else:
                rotation.cursor = batch.last_id
            if rotation.phase == Phase.FINISHED.value:
                rotation.finished_at = now
                audit.record(
                    job_context(session, job_id=job_id, now=now),
                    AuditAction.KEY_ROTATION_FINISHED,
                    rotation,
                    {
                        "version": rotation.target_version,
                        "rows": rotation.rows_done,
                        "objects": rotation.objects_done,
                    },
                )
            session.flush()
            session.expunge(rotation)
        batches += 1
    return rotation


# --- what uses each version -------------------------------------------------------------


def _versions_in(values: Iterator[bytes | None]) -> dict[int | None, int]:
    counts: dict[int | None, int] = {}
    for value in values:
        if value is not None:
            version = FieldCipher.version_of(value)
            counts[version] = counts.get(version, 0) + 1
    return counts


def usage(session: Session) -> dict[str, dict[int | None, int]]:
    """Per kind of data, how many items are under each key version (None: plaintext
    recordings). Field ciphertexts are counted by their version byte, in one pass each."""
    codes = session.execute(
        sa.select(Customer.identity_code_key_version, sa.func.count())
        .where(Customer.identity_code_ciphertext.is_not(None))
        .group_by(Customer.identity_code_key_version)
    ).all()
    recordings = session.execute(
        sa.select(Recording.key_version, sa.func.count())
        .where(Recording.storage_key.is_not(None))
        .group_by(Recording.key_version)
    ).all()

    def column(*columns: Any) -> Iterator[bytes | None]:
        for row in session.execute(sa.select(*columns)).yield_per(1000):
            yield from row

    return {
        "identity codes": {version: count for version, count in codes},
        "revision values": dict(
            _versions_in(
                column(CustomerRevision.old_value_ciphertext, CustomerRevision.new_value_ciphertext)
            )
        ),
        "authenticator secrets": dict(
            _versions_in(
                column(StaffUser.totp_secret_ciphertext, StaffUser.totp_pending_ciphertext)
            )
        ),
        "webhook secrets": dict(_versions_in(column(WebhookSecret.secret_ciphertext))),
        "recordings": {version: count for version, count in recordings},
    }


def older_versions_in_use(session: Session, keyring: Keyring) -> set[int]:
    """The key versions below the current one that something is still encrypted under."""
    return {
        version
        for counts in usage(session).values()
        for version, count in counts.items()
        if count and version is not None and version < keyring.current_version
    }


def retire_version(ctx: Context, keyring: Keyring, version: int) -> None:
    """Record that `version` is no longer used (audited), or refuse while anything is under
    it, or when it is the version new data is written under."""
    require_deployment(ctx.actor)
    if version == keyring.current_version:
        raise Conflict(f"key version {version} is the current one; rotate to a newer one first")
    if version not in keyring.versions:
        raise Conflict(f"key version {version} is not configured")
    users = {
        kind: counts[version] for kind, counts in usage(ctx.session).items() if counts.get(version)
    }
    if users:
        listed = ", ".join(f"{count} {kind}" for kind, count in users.items())
        raise Conflict(f"key version {version} is still used by {listed}; run the rotation")
    audit.record(ctx, AuditAction.KEY_VERSION_RETIRED, None, {"version": version})
