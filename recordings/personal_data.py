"""What the recordings package holds about a person, for the personal-data registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from cs_register.contacts.models import Contact
from cs_register.context import Context
from cs_register.identifiers import format_phone
from cs_register.personal_data import DataSubject, Finding, SourceDescription, TableClaim
from recordings.models import Call, PurgeReceipt, Recording, RecordingHold

SOURCE = "recordings"


@dataclass(frozen=True)
class RecordingRecords:
    """Calls, their recordings (the voice itself), holds, and purge receipts."""

    def describe(self) -> SourceDescription:
        return SourceDescription(
            name=SOURCE,
            title="Calls and call recordings",
            tables=(
                TableClaim(
                    table="calls",
                    columns=("contact_id", "customer_number", "external_call_id"),
                    purpose="Calls reported by the telephony system, with the caller's number.",
                ),
                TableClaim(
                    table="recordings",
                    columns=("contact_id", "storage_key", "playback_key", "sha256"),
                    purpose="Call recordings (the voice of the customer), kept 3 months.",
                ),
                TableClaim(
                    table="recording_holds",
                    columns=("recording_id", "reference", "justification", "release_note"),
                    purpose="Holds keeping a recording for quality work or a complaint.",
                ),
                TableClaim(
                    table="purge_receipts",
                    columns=("recording_id", "recording_public_id", "audio_sha256"),
                    purpose="Proof that a recording was deleted (no audio, no personal fields).",
                ),
            ),
        )

    def find(
        self, ctx: Context, subject: DataSubject, earlier: Sequence[Finding]
    ) -> Sequence[Finding]:
        session = ctx.session
        contact_ids = sa.select(Contact.id).where(Contact.customer_id == subject.customer_id)
        findings: list[Finding] = [
            Finding(
                source=SOURCE,
                category="Call",
                table="calls",
                reference=call.public_id,
                occurred_at=call.started_at,
                fields=(
                    ("Direction", call.direction.value),
                    ("Caller number", format_phone(call.customer_number)),
                ),
            )
            for call in session.scalars(
                sa.select(Call)
                .where(Call.contact_id.in_(contact_ids))
                .order_by(Call.started_at, Call.id)
            )
        ]
        recordings = session.scalars(
            sa.select(Recording)
            .where(Recording.contact_id.in_(contact_ids))
            .order_by(Recording.recorded_at, Recording.id)
        ).all()
        for recording in recordings:
            findings.append(
                Finding(
                    source=SOURCE,
                    category="Call recording",
                    table="recordings",
                    reference=recording.public_id,
                    occurred_at=recording.recorded_at,
                    fields=(
                        ("State", recording.state.value),
                        ("Duration", f"{recording.duration_seconds:.0f} s"),
                        ("Due for deletion", recording.due_at.isoformat()),
                    ),
                )
            )
        recording_ids = [recording.id for recording in recordings]
        findings.extend(
            Finding(
                source=SOURCE,
                category="Recording hold",
                table="recording_holds",
                reference=hold.public_id,
                occurred_at=hold.placed_at,
                fields=(("Reason", hold.reason.value), ("Ends", hold.ends_at.isoformat())),
            )
            for hold in session.scalars(
                sa.select(RecordingHold)
                .where(RecordingHold.recording_id.in_(recording_ids))
                .order_by(RecordingHold.placed_at, RecordingHold.id)
            )
        )
        findings.extend(
            Finding(
                source=SOURCE,
                category="Purge receipt",
                table="purge_receipts",
                reference=f"purge_receipts:{receipt.sequence}",
                occurred_at=receipt.purged_at,
                fields=(
                    ("Recording", receipt.recording_public_id or ""),
                    ("Reason", receipt.reason.value),
                ),
            )
            for receipt in session.scalars(
                sa.select(PurgeReceipt)
                .where(PurgeReceipt.recording_id.in_(recording_ids))
                .order_by(PurgeReceipt.sequence)
            )
        )
        return findings
