"""What the recordings package holds about a person, for the personal-data registry."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from cs_register import personal_data as registry
from cs_register.contacts.models import Contact
from cs_register.contacts.services import unlinked_contacts
from cs_register.context import Context
from cs_register.db import affected_rows
from cs_register.identifiers import format_phone
from cs_register.languages import N_, Message
from recordings.models import (
    Call,
    PurgeReason,
    PurgeReceipt,
    Recording,
    RecordingHold,
    RecordingState,
    file_extension,
)
from recordings.purge import STORED_STATES, purge_recording
from recordings.retention import RetentionPolicy
from recordings.sealing import for_original
from recordings.storage import RecordingStorage

DESCRIPTION = registry.SourceDescription(
    name="recordings",
    title=N_("Calls and call recordings"),
    retention="",  # with the deployment's periods: `RecordingRecords.describe`
    tables=(
        registry.claim(
            "calls", N_("Calls the PBX reported, with the caller's number."), "customer_number"
        ),
        registry.claim(
            "recordings", N_("The customer's voice on a recorded call."), "storage_key", "sha256"
        ),
        registry.claim(
            "recording_holds", N_("Holds for quality work or a complaint."), "justification"
        ),
        registry.claim(
            "purge_receipts", N_("Proof of deletion (no audio)."), "recording_public_id"
        ),
    ),
)
CALL = DESCRIPTION.finding_kind("calls", N_("Call"))
RECORDING = DESCRIPTION.finding_kind("recordings", N_("Call recording"))
HOLD = DESCRIPTION.finding_kind("recording_holds", N_("Recording hold"))
RECEIPT = DESCRIPTION.finding_kind("purge_receipts", N_("Purge receipt"))
UNLINKED_CALL = CALL.unlinked(N_("Unlinked call from their number"))


@dataclass(frozen=True)
class RecordingRecords:
    """Calls, their recordings (the voice itself), holds, and purge receipts."""

    storage: RecordingStorage
    policy: RetentionPolicy

    def contacts_about(self, session: Session, subject: registry.DataSubject) -> set[int]:
        """Unlinked calls made from their number are about them too."""
        if subject.phone_e164 is None:
            return set()
        found = sa.select(Call.contact_id).where(_from_their_number(subject.phone_e164))
        return {contact_id for contact_id in session.scalars(found) if contact_id is not None}

    def keeps(self, session: Session, contact_ids: Sequence[int]) -> dict[int, str]:
        """A contact stays while its recording does (a hold keeps it, up to the cap)."""
        stored = session.execute(
            sa.select(Recording.contact_id, Recording.due_at).where(
                Recording.contact_id.in_(contact_ids), Recording.state.in_(STORED_STATES)
            )
        )
        return {
            contact_id: f"its recording is kept until {due_at.date().isoformat()}"
            for contact_id, due_at in stored
            if contact_id is not None
        }

    def erase_files(self, run: registry.ErasureRun, scope: registry.ErasureScope) -> None:
        """Every stored recording in scope goes through the purge, reason `erasure_request`:
        each its own crash-safe state machine with a receipt; a complaint hold keeps one."""
        with run.database.session_factory() as session:
            ids = list(
                session.scalars(
                    sa.select(Recording.id)
                    .where(
                        Recording.contact_id.in_(scope.contact_ids),
                        Recording.state.in_(STORED_STATES),
                    )
                    .order_by(Recording.id)
                )
            )
        for recording_id in ids:
            purge_recording(
                run.database,
                self.storage,
                recording_id=recording_id,
                now=run.now,
                policy=self.policy,
                job_id=run.job_id,
                erasure=True,
            )

    def erase(
        self, ctx: Context, scope: registry.ErasureScope, tally: registry.ErasureTally
    ) -> None:
        session, contact_ids = ctx.session, scope.contact_ids
        recordings = session.scalars(
            sa.select(Recording)
            .where(Recording.contact_id.in_(contact_ids))
            .options(selectinload(Recording.holds))
        ).all()
        for recording in recordings:
            if recording.state is not RecordingState.PURGED:
                kept_until = recording.schedule(self.policy).due_at
                if recording.erasure_requested_at is None or ctx.now >= kept_until:
                    raise registry.FilesStillStored(f"recording {recording.public_id}")
                tally.keep(
                    RECORDING.category,
                    recording.public_id,
                    f"Under a complaint hold until {kept_until.date().isoformat()}; deleted"
                    " when the hold ends.",
                )
                if recording.contact_id is not None:
                    tally.bare_contact_ids.add(recording.contact_id)
                continue
            # A tombstone: its receipt in the ledger stays; the holds' texts go.
            for hold in recording.holds:
                session.delete(hold)
            tally.count(HOLD.category, len(recording.holds))
            recording.contact_id = None
            if recording.purge_reason == PurgeReason.ERASURE_REQUEST.value:
                tally.count(RECORDING.category, 1)
        calls = affected_rows(session, sa.delete(Call).where(Call.contact_id.in_(contact_ids)))
        tally.count(CALL.category, calls)

    def files(self, ctx: Context, subject: registry.DataSubject) -> Sequence[registry.HeldFile]:
        """The audio of every recording of theirs still stored, byte for byte as received."""
        theirs = sa.select(Contact.id).where(Contact.customer_id == subject.customer_id)
        recordings = ctx.session.scalars(
            sa.select(Recording)
            .where(
                Recording.contact_id.in_(theirs),
                Recording.state == RecordingState.ACTIVE,
                Recording.storage_key.is_not(None),
            )
            .order_by(Recording.recorded_at, Recording.id)
        )
        return [
            registry.HeldFile(
                name=f"recordings/{recording.public_id}.{file_extension(recording)}",
                reference=recording.public_id,
                sha256=recording.sha256,
                size_bytes=recording.size_bytes,
                open=partial(
                    for_original(self.storage, recording.key_version).open,
                    recording.storage_key or "",
                ),
            )
            for recording in recordings
        ]

    def describe(self) -> registry.SourceDescription:
        # The periods as this deployment has them (`RETENTION_MONTHS`, `HOLD_CAP_MONTHS`).
        return dataclasses.replace(
            DESCRIPTION,
            retention=Message(
                "Recordings %(months)d months, holds up to %(cap)d (recordings.retention).",
                months=self.policy.retention_months,
                cap=self.policy.hold_cap_months,
            ),
        )

    def find(
        self, ctx: Context, subject: registry.DataSubject, earlier: Sequence[registry.Finding]
    ) -> Sequence[registry.Finding]:
        session = ctx.session
        theirs = sa.select(Contact.id).where(Contact.customer_id == subject.customer_id)
        findings: list[registry.Finding] = []
        for call in session.scalars(
            sa.select(Call).where(Call.contact_id.in_(theirs)).order_by(Call.started_at)
        ):
            number = (N_("Caller number"), _shown(call.customer_number))
            direction = (N_("Direction"), call.direction.value)
            findings.append(CALL.of(call.public_id, call.started_at, direction, number))
        if subject.phone_e164 is not None:
            # Not linked to them (yet), but made from their number: held about them too.
            for call in session.scalars(
                sa.select(Call).where(_from_their_number(subject.phone_e164))
            ):
                number = (N_("Caller number"), _shown(call.customer_number))
                findings.append(UNLINKED_CALL.of(call.public_id, call.started_at, number))
        recordings = sa.select(Recording.id).where(Recording.contact_id.in_(theirs))
        for recording in session.scalars(sa.select(Recording).where(Recording.id.in_(recordings))):
            state = (N_("State"), recording.state.value)
            due = (N_("Due for deletion"), recording.due_at.isoformat())
            findings.append(RECORDING.of(recording.public_id, recording.recorded_at, state, due))
        for hold in session.scalars(
            sa.select(RecordingHold).where(RecordingHold.recording_id.in_(recordings))
        ):
            reason = (N_("Reason"), hold.reason.value)
            findings.append(
                HOLD.of(
                    hold.public_id, hold.placed_at, reason, (N_("Ends"), hold.ends_at.isoformat())
                )
            )
        for receipt in session.scalars(
            sa.select(PurgeReceipt).where(PurgeReceipt.recording_id.in_(recordings))
        ):
            row = f"purge_receipts:{receipt.sequence}"
            findings.append(
                RECEIPT.of(row, receipt.purged_at, (N_("Reason"), receipt.reason.value))
            )
        return findings


def _from_their_number(number: str) -> sa.ColumnElement[bool]:
    """A call still unlinked, made from `number` (E.164 as stored)."""
    return sa.and_(Call.customer_number == number, Call.contact_id.in_(unlinked_contacts()))


def _shown(number: str | None) -> str:
    return format_phone(number) if number is not None else "withheld"
