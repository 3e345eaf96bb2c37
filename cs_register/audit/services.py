"""Writing and reading the audit trail.

`record(ctx, ...)` adds the row to the unit of work's session, so it commits or rolls back
together with the change it describes: there is never an audit row for something that did not
happen, nor a change without its audit row.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.context import Context
from cs_register.db import on_commit
from cs_register.free_text import contains_identity_code
from cs_register.permissions import Permission, Principal, require

log = logging.getLogger("cs_register.audit")


class AuditSubject(Protocol):
    """A row the trail can name: its model says what kind of thing it is, once, so every
    event about a contact says "contact" however it was written."""

    audit_subject_type: ClassVar[str]

    @property
    def public_id(self) -> str: ...


Subject = AuditSubject | tuple[str | None, str | None]

# Defence in depth: details are written by our own code, but a slip must not put an identity
# code, email address or phone number into the one table that is kept for years. These are
# narrow on purpose: details also carry timestamps, byte ranges and hashes, in which the
# phonenumbers matcher finds "numbers" ("08.651234" in a time with microseconds). Free text
# people type for the trail (hold references) is screened by `free_text` before it gets here.
_PII_PATTERNS = (
    re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+"),
    # E.164 as we store phones, and Finnish national numbers as agents type them.
    re.compile(r"\+\d{7,15}"),
    re.compile(r"(?<![\w-])0\d{6,11}(?![\w-])"),
)
# Public ids (UUIDs) are fine in details, but a few percent of them contain a run such as
# "0123456789" that the phone patterns above would reject.
_PUBLIC_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_AUDIT_EVENTS = cast(sa.Table, AuditEvent.__table__)
_INSERT_EVENT = sa.insert(_AUDIT_EVENTS).returning(_AUDIT_EVENTS.c.id)


class AuditDetailsContainPersonalData(ValueError):
    """A caller tried to write something that looks like personal data into the audit trail."""


def _check_details(details: Mapping[str, Any]) -> None:
    def walk(value: Any) -> None:
        if isinstance(value, str):
            if _PUBLIC_ID.fullmatch(value):
                return
            if contains_identity_code(value) or any(
                pattern.search(value) for pattern in _PII_PATTERNS
            ):
                raise AuditDetailsContainPersonalData("audit details look like personal data")
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(details)


def _append(
    session: Session,
    *,
    action: AuditAction,
    actor_id: int | None,
    actor_label: str,
    now: datetime,
    subject_type: str | None,
    subject_id: str | None,
    request_id: str | None,
    details: Mapping[str, Any] | None,
) -> int:
    details = dict(details or {})
    _check_details(details)
    label = actor_label
    # Whatever the caller changed reaches the database first, in the order it happened.
    session.flush()
    # A Core INSERT: the row is never read back through this session, and every request
    # that changes anything writes one, so the ORM's unit-of-work bookkeeping is pure cost.
    event_id: int = (
        session.connection()
        .execute(
            _INSERT_EVENT,
            {
                "occurred_at": now,
                "actor_id": actor_id,
                "actor_label": label,
                "action": action,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "request_id": request_id,
                "details": details,
            },
        )
        .scalar_one()
    )
    # Logged once the row is committed: a log line must not report what was rolled back.
    on_commit(
        session,
        functools.partial(
            log.info,
            "audit %s by %s on %s %s",
            action.value,
            label,
            subject_type or "-",
            subject_id or "-",
            extra={"request_id": request_id},
        ),
    )
    return event_id


def record(
    ctx: Context,
    action: AuditAction,
    subject: Subject | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append the audit row for what `ctx`'s actor just did, in `ctx`'s transaction.

    `subject` is what it was done to: a model row (`customer`), or (type, public id) for
    something that is not one (a recording as the purge reads it).
    """
    subject_type, subject_id = _named(subject)
    return _append(
        ctx.session,
        action=action,
        actor_id=ctx.actor.staff_id,
        actor_label=ctx.actor.audit_label,
        now=ctx.now,
        subject_type=subject_type,
        subject_id=subject_id,
        request_id=ctx.request_id,
        details=details,
    )


def _named(subject: Subject | None) -> tuple[str | None, str | None]:
    if subject is None:
        return (None, None)
    if isinstance(subject, tuple):
        return subject
    return (subject.audit_subject_type, subject.public_id)


def record_many(
    ctx: Context,
    action: AuditAction,
    entries: Sequence[tuple[tuple[str, str], Mapping[str, Any]]],
) -> int:
    """Append one audit row per `(subject, details)` in `entries` for the same action, in
    `ctx`'s transaction and with one statement: a batch of purges has one row per recording,
    like a single purge, without a round trip each. Details are checked as `record` checks
    them; one log line names the action and the count once the rows are committed."""
    if not entries:
        return 0
    rows = []
    for (subject_type, subject_id), details in entries:
        checked = dict(details)
        _check_details(checked)
        rows.append(
            {
                "occurred_at": ctx.now,
                "actor_id": ctx.actor.staff_id,
                "actor_label": ctx.actor.audit_label,
                "action": action,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "request_id": ctx.request_id,
                "details": checked,
            }
        )
    ctx.session.flush()
    ctx.session.connection().execute(sa.insert(_AUDIT_EVENTS), rows)
    on_commit(
        ctx.session,
        functools.partial(
            log.info,
            "audit %s by %s on %d %s",
            action.value,
            ctx.actor.audit_label,
            len(rows),
            rows[0]["subject_type"] or "-",
            extra={"request_id": ctx.request_id},
        ),
    )
    return len(rows)


@dataclass(frozen=True)
class AuditFilter:
    """What the trail's reader narrowed it to: ids and kinds only, never people's data."""

    actions: frozenset[AuditAction] | None = None
    actor_id: int | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(query: sa.Select[Any], filters: AuditFilter) -> sa.Select[Any]:
    if filters.actions is not None:
        query = query.where(AuditEvent.action.in_(sorted(filters.actions, key=lambda a: a.value)))
    if filters.actor_id is not None:
        query = query.where(AuditEvent.actor_id == filters.actor_id)
    if filters.subject_type:
        query = query.where(AuditEvent.subject_type == filters.subject_type)
    if filters.subject_id:
        query = query.where(AuditEvent.subject_id == filters.subject_id)
    if filters.since is not None:
        query = query.where(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.occurred_at < filters.until)
    return query


def find_audit_events(
    session: Session,
    *,
    viewer: Principal,
    filters: AuditFilter,
    limit: int = 100,
    before_id: int | None = None,
    after_id: int | None = None,
) -> Sequence[AuditEvent]:
    """Newest first, keyset-paginated by id so deep pages stay fast (the trail is
    append-only, so ids are its order). `before_id` gives the `limit` events just older than
    it; `after_id` the `limit` just newer (read upwards, returned newest first)."""
    require(viewer, Permission.VIEW_AUDIT)
    query = _filtered(sa.select(AuditEvent), filters).limit(limit)
    if after_id is not None:
        query = query.where(AuditEvent.id > after_id).order_by(AuditEvent.id.asc())
        return list(reversed(session.scalars(query).all()))
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return session.scalars(query.order_by(AuditEvent.id.desc())).all()


def has_audit_events(
    session: Session,
    *,
    filters: AuditFilter,
    before_id: int | None = None,
    after_id: int | None = None,
) -> bool:
    """Whether any event matches beyond a page's edge (for its "older"/"newer" links)."""
    query = _filtered(sa.select(AuditEvent.id), filters)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if after_id is not None:
        query = query.where(AuditEvent.id > after_id)
    return session.scalar(sa.select(query.limit(1).exists())) or False
