"""The deadline monitor: no open request past its due day, no extension without its reason.

Like the retention invariant, it is for alerting: `flask privacy status` exits non-zero and
logs one ERROR line (case ids only) when something is wrong, and the DPO's pages show a banner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.privacy.models import OPEN_STATUSES, PrivacyRequest

log = logging.getLogger(__name__)


# What is wrong with a case, as the status command prints it and the log line counts it.
ProblemKind = Literal["overdue", "unjustified_extension"]


@dataclass(frozen=True)
class DeadlineProblem:
    kind: ProblemKind
    request_public_id: str
    due_on: date


def _overdue(today: date) -> sa.ColumnElement[bool]:
    """An open case whose due day is before `today`: the one definition the deadline check,
    the DPO's banner and the metrics count."""
    return sa.and_(PrivacyRequest.status.in_(OPEN_STATUSES), PrivacyRequest.due_on < today)


def _extended_without_reason() -> sa.ColumnElement[bool]:
    """Extended, but missing the justification or the date the person was told."""
    return sa.and_(
        PrivacyRequest.extension_months > 0,
        sa.or_(
            PrivacyRequest.extension_justification.is_(None),
            PrivacyRequest.extension_justification == "",
            PrivacyRequest.extension_told_on.is_(None),
        ),
    )


def check_deadlines(session: Session, *, today: date) -> list[DeadlineProblem]:
    """Open cases due before `today`, and extended cases missing the justification or the
    date the person was told (the service refuses both; a hand-edited row may not)."""
    checks: tuple[tuple[ProblemKind, sa.ColumnElement[bool]], ...] = (
        ("overdue", _overdue(today)),
        ("unjustified_extension", _extended_without_reason()),
    )
    return [
        DeadlineProblem(kind, public_id, due_on)
        for kind, condition in checks
        for public_id, due_on in session.execute(
            sa.select(PrivacyRequest.public_id, PrivacyRequest.due_on)
            .where(condition)
            .order_by(PrivacyRequest.due_on, PrivacyRequest.id)
        )
    ]


def log_problems(problems: list[DeadlineProblem]) -> None:
    """One ERROR line for an operator's alerting: counts and case ids, nothing about a person."""
    if not problems:
        return
    by_kind: dict[str, list[str]] = {}
    for problem in problems:
        by_kind.setdefault(problem.kind, []).append(problem.request_public_id)
    log.error(
        "privacy request deadlines broken: %s",
        "; ".join(
            f"{kind}: {len(ids)} ({', '.join(ids)})" for kind, ids in sorted(by_kind.items())
        ),
    )


def count_overdue(session: Session, *, today: date) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count()).select_from(PrivacyRequest).where(_overdue(today))
        )
        or 0
    )
