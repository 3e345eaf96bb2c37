"""The lifecycle that integration tokens and webhook secrets share.

Both are named credentials for a machine client: created (by an admin or the deployment's
command line), listed with who created and ended them, and ended for good (a token is revoked,
a secret retired) without being deleted, so logs and the audit trail stay unambiguous and a
name is never reused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import Context
from cs_register.errors import Conflict, NotFound
from cs_register.permissions import Permission, require_unless_command
from cs_register.staff.models import StaffUser

# Who created or ended a credential when no staff member did: the deployment's command line.
DEPLOYMENT_LABEL = "cli"


class Credential(Protocol):
    id: Any
    public_id: Any
    name: Any
    created_by_id: Any


C = TypeVar("C", bound=Credential)


def require_manager(ctx: Context) -> None:
    require_unless_command(ctx.actor, Permission.MANAGE_INTEGRATIONS)


@dataclass(frozen=True)
class Lookups(Generic[C]):
    """Finding one kind of credential by name or public id, with messages that name the kind."""

    model: type[C]
    noun: str  # "integration token"
    a_noun: str  # "an integration token", for messages

    def find_by_name(self, session: Session, name: str) -> C | None:
        column: Any = self.model.name
        found: C | None = session.scalar(
            sa.select(self.model).where(column == name.strip().lower())
        )
        return found

    def get(self, session: Session, public_id: str) -> C:
        column: Any = self.model.public_id
        found: C | None = session.scalar(sa.select(self.model).where(column == public_id))
        if found is None:
            raise NotFound(f"No such {self.noun}.")
        return found

    def get_by_name(self, session: Session, name: str) -> C:
        """For the command line, where administrators name credentials rather than use ids."""
        found = self.find_by_name(session, name)
        if found is None:
            raise NotFound(f"No {self.noun} has that name.")
        return found


def refuse_taken_name(session: Session, lookups: Lookups[C], name: str) -> None:
    # Ended credentials keep their name, so the audit trail stays unambiguous.
    if lookups.find_by_name(session, name) is not None:
        noun = lookups.noun
        raise Conflict(
            f"An{'n' if noun[0] in 'aeiou' else ''} {noun} with that name already exists."
        )


def end(ctx: Context, credential: C, *, ended: str, already: str) -> None:
    """Mark `credential` ended now by `ctx`'s actor (`ended` names the `<ended>_at` and
    `<ended>_by_id` columns); a second end is a Conflict."""
    if getattr(credential, f"{ended}_at") is not None:
        raise Conflict(already)
    setattr(credential, f"{ended}_at", ctx.now)
    setattr(credential, f"{ended}_by_id", ctx.actor.staff_id)
    ctx.session.flush()


def add(
    ctx: Context,
    action: AuditAction,
    credential: Credential,
    *,
    subject_type: str,
    details: Mapping[str, object],
) -> None:
    """Store a new credential and audit its creation."""
    ctx.session.add(credential)
    ctx.session.flush()
    record(ctx, action, credential, subject_type=subject_type, details=details)


def record(
    ctx: Context,
    action: AuditAction,
    credential: Credential,
    *,
    subject_type: str,
    details: Mapping[str, object],
) -> None:
    audit.record(
        ctx,
        action,
        (subject_type, credential.public_id),
        details={"name": credential.name, **details},
    )


def with_people(
    session: Session, model: type[C], *, ended: str, order_by: tuple[Any, ...]
) -> list[tuple[C, str, str | None]]:
    """Every credential with the username that created it and the one that ended it
    (DEPLOYMENT_LABEL where no staff member did; None while it is not ended)."""
    creator = aliased(StaffUser)
    ender = aliased(StaffUser)
    model_columns: Any = model
    rows = session.execute(
        sa.select(model, creator.username, ender.username)
        .outerjoin(creator, creator.id == model_columns.created_by_id)
        .outerjoin(ender, ender.id == getattr(model_columns, f"{ended}_by_id"))
        .order_by(*order_by)
    ).all()
    return [
        (
            credential,
            created_by or DEPLOYMENT_LABEL,
            (ended_by or DEPLOYMENT_LABEL)
            if getattr(credential, f"{ended}_at") is not None
            else None,
        )
        for credential, created_by, ended_by in rows
    ]
