"""The deadline monitor: no open request past its due day, no extension without its reason.

Like the retention invariant, it is for alerting: `flask privacy status` exits non-zero and
logs one ERROR line (case ids only) when something is wrong, and the DPO's pages show a banner.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.privacy.models import OPEN_STATUSES, PrivacyRequest

log = logging.getLogger(__name__)


class ProblemKind(enum.Enum):
    OVERDUE = "overdue"
    UNJUSTIFIED_EXTENSION = "unjustified_extension"


@dataclass(frozen=True)
class DeadlineProblem:
    kind: ProblemKind
    request_public_id: str
    due_on: date


def check_deadlines(session: Session, *, today: date) -> list[DeadlineProblem]:
    """Open cases due before `today`, and extended cases missing the justification or the
    date the person was told (the service refuses both; a hand-edited row may not)."""
    problems = [
        DeadlineProblem(ProblemKind.OVERDUE, public_id, due_on)
        for public_id, due_on in session.execute(
            sa.select(PrivacyRequest.public_id, PrivacyRequest.due_on)
            .where(PrivacyRequest.status.in_(OPEN_STATUSES), PrivacyRequest.due_on < today)
            .order_by(PrivacyRequest.due_on, PrivacyRequest.id)
        )
    ]
    problems += [
        DeadlineProblem(ProblemKind.UNJUSTIFIED_EXTENSION, public_id, due_on)
        for public_id, due_on in session.execute(
            sa.select(PrivacyRequest.public_id, PrivacyRequest.due_on)
            .where(
                PrivacyRequest.extension_months > 0,
                sa.or_(
                    PrivacyRequest.extension_justification.is_(None),
                    PrivacyRequest.extension_justification == "",
                    PrivacyRequest.extension_told_on.is_(None),
                ),
            )
            .order_by(PrivacyRequest.due_on, PrivacyRequest.id)
        )
    ]
    return problems


def log_problems(problems: list[DeadlineProblem]) -> None:
    """One ERROR line for an operator's alerting: counts and case ids, nothing about a person."""
    if not problems:
        return
    by_kind: dict[str, list[str]] = {}
    for problem in problems:
        by_kind.setdefault(problem.kind.value, []).append(problem.request_public_id)
    log.error(
        "privacy request deadlines broken: %s",
        "; ".join(
            f"{kind}: {len(ids)} ({', '.join(ids)})" for kind, ids in sorted(by_kind.items())
        ),
    )


def count_overdue(session: Session, *, today: date) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(PrivacyRequest)
            .where(PrivacyRequest.status.in_(OPEN_STATUSES), PrivacyRequest.due_on < today)
        )
        or 0
    )
