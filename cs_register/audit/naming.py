"""Names for the trail's subjects and staff, asked of the packages that own them.

The trail stores a subject as (kind, public id) and an actor as a staff id, and the audit
package sits below every package that owns those rows, so it cannot read them itself. Each
owner registers a *namer* through the page seams (`cs_register.pages`), wired in
`create_app`; a page of the trail asks them once per kind of subject on the page, never once
per row.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from cs_register import pages
from cs_register.permissions import Principal

# (session, subject_type, public_ids, viewer) -> {public_id: SubjectName}, or None for a kind
# the namer does not own.
SUBJECT_NAMES = "audit_subject_names"
# (session, staff_ids or None for everyone) -> {staff id: display name}
STAFF_NAMES = "audit_staff_names"

SubjectNamer = Callable[
    [Session, str, Collection[str], Principal], Mapping[str, "SubjectName"] | None
]
StaffNamer = Callable[[Session, Collection[int] | None], Mapping[int, str]]


@dataclass(frozen=True)
class SubjectName:
    """How the trail shows one subject to one viewer.

    `text` is what the owner judged safe for that viewer (a customer's name only for those who
    may open the customer; never an identity code). `endpoint` is the subject's page, built
    with the public id; the trail still links it only if the viewer's role may open it. `gone`:
    the subject no longer exists (erased, purged), and `text` says so.
    """

    text: str
    endpoint: str | None = None
    gone: bool = False


def provide_subject_names(app: Flask, namer: SubjectNamer) -> None:
    pages.provide(app, SUBJECT_NAMES, namer)


def provide_staff_names(app: Flask, namer: StaffNamer) -> None:
    pages.provide(app, STAFF_NAMES, namer)


def subject_names(
    session: Session,
    subjects: Iterable[tuple[str | None, str | None]],
    viewer: Principal,
) -> dict[tuple[str, str], SubjectName]:
    """Every named subject in `subjects`, with one question per kind to its owner."""
    by_type: dict[str, set[str]] = {}
    for subject_type, subject_id in subjects:
        if subject_type and subject_id:
            by_type.setdefault(subject_type, set()).add(subject_id)
    names: dict[tuple[str, str], SubjectName] = {}
    for subject_type, ids in by_type.items():
        for answer in pages.collect(SUBJECT_NAMES, session, subject_type, ids, viewer):
            names.update(((subject_type, public_id), name) for public_id, name in answer.items())
    return names


def staff_names(session: Session, staff_ids: Collection[int] | None = None) -> dict[int, str]:
    """Display names of `staff_ids` (of every staff member when None: the filter's list)."""
    if staff_ids is not None and not staff_ids:
        return {}
    names: dict[int, str] = {}
    for answer in pages.collect(STAFF_NAMES, session, staff_ids):
        names.update(answer)
    return names


def subject_namer(
    model: Any,
    columns: Iterable[Any],
    *,
    name: Callable[[Any, Principal], SubjectName | None],
    gone: SubjectName,
) -> SubjectNamer:
    """A namer for `model`'s subjects: one query for the public ids' rows (their public id and
    `columns`), then `name(row, viewer)` for each, or `gone` when no row is left or `name`
    says the row is gone too (a purged recording's tombstone)."""
    wanted = tuple(columns)

    def namer(
        session: Session, subject_type: str, public_ids: Collection[str], viewer: Principal
    ) -> dict[str, SubjectName] | None:
        if subject_type != model.audit_subject_type:
            return None
        query = sa.select(model.public_id, *wanted).where(model.public_id.in_(public_ids))
        found = {row.public_id: row for row in session.execute(query)}
        named = {pid: name(found[pid], viewer) for pid in public_ids if pid in found}
        return {public_id: named.get(public_id) or gone for public_id in public_ids}

    return namer
