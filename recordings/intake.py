"""What the telephony system reports: calls as they end, and their recordings.

The PBX is a machine client authenticated by an integration token, not a staff member, so the
phone contact of a call is created here rather than through `contacts.services.log_contact`
(which needs an agent and a verification panel). Each call is linked to a customer only when
the caller's number belongs to exactly one customer; otherwise it waits in the unidentified
queue for an agent, because guessing between two people would attach a recording to the wrong
person.

Both operations are idempotent: the PBX retries after timeouts, and a retry must neither
duplicate a call nor replace a recording.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.clock import CLOCK_SKEW, parse_api_timestamp
from cs_register.contacts.incoming import record_incoming_contact
from cs_register.contacts.models import Channel, Contact, Direction
from cs_register.context import Context
from cs_register.customers.search import match_incoming
from cs_register.errors import (
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from cs_register.identifiers import IdentifierError, normalise_phone
from cs_register.integrations.models import IntegrationToken
from cs_register.languages import N_, Message
from cs_register.staff.models import StaffUser
from cs_register.staff.services import find_user_by_username
from recordings import services
from recordings.audio import AudioRejected, inspect_audio
from recordings.models import Call, Recording
from recordings.retention import RetentionPolicy
from recordings.storage import RecordingStorage, UploadTooLarge

log = logging.getLogger(__name__)

# The PBX's own id for a call: the idempotency key of the telephony API (the OpenAPI document
# publishes the same pattern).
EXTERNAL_CALL_ID_PATTERN = r"[A-Za-z0-9._:@-]{1,128}"
_EXTERNAL_CALL_ID = re.compile(EXTERNAL_CALL_ID_PATTERN)
EXTERNAL_CALL_ID_RULE = "Use 1-128 characters: letters, digits and . _ : @ -"
SUBJECTS = {Direction.INBOUND: "Inbound call", Direction.OUTBOUND: "Outbound call"}
WITHHELD_SUBJECTS = {
    Direction.INBOUND: "Inbound call, number withheld",
    Direction.OUTBOUND: "Outbound call, number withheld",
}
# What PBXs send for a caller who withheld their number (besides null, an empty string or no
# field at all).
WITHHELD_NUMBERS = frozenset({"", "anonymous", "withheld", "private", "restricted", "unknown"})
MAX_CONTENT_TYPE = 100


def _integration_label(token: IntegrationToken) -> str:
    return f"integration:{token.name}"


def find_call(session: Session, external_call_id: str) -> Call | None:
    return session.scalar(sa.select(Call).where(Call.external_call_id == external_call_id))


def parse_timestamp(value: object, *, field: str, errors: dict[str, list[str]]) -> datetime | None:
    """The API timestamp in `value` (see `clock.parse_api_timestamp`), or a message in
    `errors[field]`."""
    try:
        return parse_api_timestamp(value)
    except IdentifierError as problem:
        errors[field] = [problem.message]
        return None


def parse_caller_number(raw: object, *, field: str, errors: dict[str, list[str]]) -> str | None:
    """The caller's number in E.164, or None when it is withheld; a message in `errors[field]`
    when it is neither."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in WITHHELD_NUMBERS):
        # A call from a withheld number is still a call (its recording must be kept under
        # the same rules): taken unlinked, with no number.
        return None
    if not isinstance(raw, str):
        errors[field] = [
            "Must be the caller's phone number as a string, or null when it is withheld."
        ]
        return None
    try:
        return normalise_phone(raw)
    except IdentifierError as exc:
        # The message never quotes the number back.
        errors[field] = [exc.message]
        return None


@dataclass(frozen=True)
class ReportedCall:
    """What the PBX said about a call, validated: what a finished call's report and a live
    event (`recordings.call_events`) open a call with."""

    direction: Direction
    number: str | None
    agent: StaffUser | None
    started_at: datetime
    ended_at: datetime | None = None


def _validated_call_fields(
    session: Session, payload: Mapping[str, object], *, now: datetime
) -> ReportedCall:
    errors: dict[str, list[str]] = {}

    direction: Direction | None = None
    raw_direction = payload.get("direction")
    if isinstance(raw_direction, str) and raw_direction.strip().lower() in ("inbound", "outbound"):
        direction = Direction(raw_direction.strip().lower())
    else:
        errors["direction"] = [N_('Must be "inbound" or "outbound".')]

    number = parse_caller_number(
        payload.get("customer_number"), field="customer_number", errors=errors
    )

    agent: StaffUser | None = None
    raw_agent = payload.get("agent_username")
    if raw_agent is not None:
        if not isinstance(raw_agent, str):
            errors["agent_username"] = [N_("Must be a staff username as a string, or null.")]
        elif raw_agent.strip():
            agent = find_user_by_username(session, raw_agent)
            if agent is None:
                # Taken without an agent, answered exactly as with one: a PBX token must not
                # learn which staff usernames exist by trying them.
                log.warning("a call named an agent username that matches no staff account")

    started_at = parse_timestamp(payload.get("started_at"), field="started_at", errors=errors)
    if started_at is not None and started_at > now + CLOCK_SKEW:
        errors["started_at"] = [N_("The call cannot start in the future.")]
    ended_at = None
    if payload.get("ended_at") is not None:
        ended_at = parse_timestamp(payload.get("ended_at"), field="ended_at", errors=errors)
        if ended_at is not None and started_at is not None and ended_at < started_at:
            errors["ended_at"] = [N_("The call cannot end before it started.")]
        elif ended_at is not None and ended_at > now + CLOCK_SKEW:
            errors["ended_at"] = [N_("The call cannot end in the future.")]

    if errors or direction is None or started_at is None:
        raise ValidationFailed(errors)
    return ReportedCall(direction, number, agent, started_at, ended_at)


def checked_external_call_id(value: object) -> str:
    """`value` if it is a valid external call id; `ValidationFailed` otherwise."""
    if not isinstance(value, str) or not _EXTERNAL_CALL_ID.fullmatch(value):
        raise ValidationFailed({"external_call_id": EXTERNAL_CALL_ID_RULE})
    return value


def register_call(
    ctx: Context, *, token: IntegrationToken, payload: Mapping[str, object]
) -> tuple[Call, bool]:
    """Register a call reported by the PBX and create its phone contact.

    `external_call_id` is the idempotency key: a call already registered under it is returned
    as it is (`created` False), even if this payload says something else; the first report wins.
    """
    session = ctx.session
    external_call_id = checked_external_call_id(payload.get("external_call_id"))
    existing = find_call(session, external_call_id)
    if existing is not None:
        _close_opened_call(ctx, existing, payload)
        return existing, False
    reported = _validated_call_fields(session, payload, now=ctx.now)
    return open_call(ctx, token=token, external_call_id=external_call_id, reported=reported), True


def _close_opened_call(ctx: Context, call: Call, payload: Mapping[str, object]) -> None:
    """The finished call's report for a call a live event opened (`recordings.call_events`)
    gives it the end the event could not know, so the screen pop ends and the call stays one
    call with one contact. Everything else the event already said wins; a call the report
    itself opened is never changed again (the first report wins)."""
    opened_by_event = call.ringing_at is not None or call.answered_at is not None
    if not opened_by_event or call.ended_at is not None or payload.get("ended_at") is None:
        return
    ended_at = _validated_call_fields(ctx.session, payload, now=ctx.now).ended_at
    if ended_at is None:
        return
    if ended_at < call.started_at:
        message = N_("The call cannot end before it started.")
        raise ValidationFailed({"ended_at": [message]})
    call.ended_at = ended_at
    ctx.session.flush()


def open_call(
    ctx: Context,
    *,
    token: IntegrationToken,
    external_call_id: str,
    reported: ReportedCall,
) -> Call:
    """Create a call and its phone contact, linked when the number is exactly one customer's;
    the one way both the finished call's report and a live event open a call."""
    session = ctx.session
    direction, number, agent = reported.direction, reported.number, reported.agent
    match = match_incoming(session, phone=number)
    customer = match.customer
    subject = SUBJECTS[direction] if number is not None else WITHHELD_SUBJECTS[direction]
    try:
        # A savepoint, so that losing a race leaves the caller's transaction usable.
        with session.begin_nested():
            contact = record_incoming_contact(
                ctx,
                channel=Channel.PHONE,
                direction=direction,
                occurred_at=reported.started_at,
                subject=subject,
                notes="",
                customer_id=customer.id if customer is not None else None,
                handled_by_id=agent.id if agent is not None else None,
                held_for_customer_id=match.held_for,
            )
            call = Call(
                external_call_id=external_call_id,
                direction=direction,
                customer_number=number,
                agent_id=agent.id if agent is not None else None,
                started_at=reported.started_at,
                ended_at=reported.ended_at,
                contact_id=contact.id,
                created_at=ctx.now,
                integration_token_id=token.id,
            )
            session.add(call)
            session.flush()
    except IntegrityError:
        # Another request registered the same call a moment ago; its retry will get a 200.
        raise Conflict("This call is being registered by another request; retry.") from None
    audit.record(
        ctx,
        AuditAction.CALL_REGISTERED,
        call,
        details={
            "contact": contact.public_id,
            "direction": direction.value,
            "customer_linked": customer is not None,
            **({"customer": customer.public_id} if customer is not None else {}),
        },
    )
    return call


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header (no parameters), lower-case."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _require_audio_type(content_type: str | None) -> str:
    bare = media_type(content_type)
    kind, _, subtype = bare.partition("/")
    if kind != "audio" or not subtype or len(bare) > MAX_CONTENT_TYPE:
        raise UnsupportedMediaType("Send the recording with an audio/* Content-Type.")
    return bare


def _contact_of(session: Session, call_or_contact: Call | Contact) -> Contact:
    if isinstance(call_or_contact, Contact):
        return call_or_contact
    contact = session.get(Contact, call_or_contact.contact_id)
    assert contact is not None  # noqa: S101 - calls.contact_id is a non-null foreign key
    return contact


def receive_recording(
    ctx: Context,
    storage: RecordingStorage,
    *,
    call_or_contact: Call | Contact,
    chunks: Iterable[bytes],
    content_type: str | None,
    recorded_at: datetime,
    max_bytes: int,
    policy: RetentionPolicy,
    token: IntegrationToken | None = None,
) -> tuple[Recording, bool]:
    """Stream an upload to a staged file, validate it as audio and keep it.

    415 for a non-audio Content-Type, 413 beyond `max_bytes`, 422 when the bytes are not
    complete, decodable audio, 409 when the call already has a different recording; the same
    bytes again return the existing recording (`created` False). On any failure nothing stays
    behind: the staged file is removed on leaving, and stored files are removed again if the
    transaction rolls back.
    """
    session = ctx.session
    bare_type = _require_audio_type(content_type)
    contact = _contact_of(session, call_or_contact)
    with storage.staged_upload() as staged:
        try:
            storage.receive(staged, chunks, max_bytes=max_bytes)
        except UploadTooLarge as exc:
            raise PayloadTooLarge(
                Message(
                    "The recording is larger than the limit of %(limit)d bytes.", limit=exc.limit
                )
            ) from None
        existing = session.scalar(sa.select(Recording).where(Recording.contact_id == contact.id))
        if existing is not None:
            # A retry of a finished upload: answer from the hash, without decoding it again.
            if existing.sha256 == staged.sha256:
                return existing, False
            raise Conflict("This call already has a different recording.")
        try:
            info = inspect_audio(staged.path)
            return services.store_recording(
                ctx,
                storage,
                contact=contact,
                staged=staged,
                info=info,
                content_type=bare_type,
                recorded_at=recorded_at,
                policy=policy,
                token=token,
            )
        except AudioRejected as rejected:
            # The message is written for the uploader; ffmpeg's own output never reaches it.
            raise ValidationFailed({"audio": [str(rejected)]}) from None
