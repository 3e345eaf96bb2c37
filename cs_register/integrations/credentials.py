"""The lifecycle that integration tokens and webhook secrets share.

Both are named credentials for a machine client: created (by an admin or the deployment's
command line), listed with who created and ended them, and ended for good (a token is revoked,
a secret retired) without being deleted, so logs and the audit trail stay unambiguous and a
name is never reused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
class Kind(Generic[C]):
    """One kind of credential: how it is found, audited and ended, with messages naming it."""

    model: type[C]
    a_noun: str  # "an integration token", for messages
    ended_column: str  # "revoked" names the revoked_at and revoked_by_id columns
    # What people read, as whole sentences marked with N_ where the kind is defined.
    not_found: str  # "No such integration token."
    name_taken: str  # "An integration token with that name already exists."
    already_ended: str  # "This integration token has already been revoked."

    @property
    def noun(self) -> str:
        return self.a_noun.split(" ", 1)[1]

    @property
    def subject_type(self) -> str:
        """The audit trail's subject type, which also prefixes the kind's audit actions."""
        return self.noun.replace(" ", "_")

    @property
    def created(self) -> AuditAction:
        return AuditAction(f"{self.subject_type}_created")

    @property
    def ended(self) -> AuditAction:
        return AuditAction(f"{self.subject_type}_{self.ended_column}")

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
            raise NotFound(self.not_found)
        return found

    def get_by_name(self, session: Session, name: str) -> C:
        """For the command line, where administrators name credentials rather than use ids."""
        found = self.find_by_name(session, name)
        if found is None:
            raise NotFound(f"No {self.noun} has that name.")
        return found

    def refuse_taken_name(self, session: Session, name: str) -> None:
        # Ended credentials keep their name, so the audit trail stays unambiguous.
        if self.find_by_name(session, name) is not None:
            raise Conflict(self.name_taken)

    def add(self, ctx: Context, credential: C, details: Mapping[str, object]) -> None:
        """Store a new credential and audit its creation."""
        ctx.session.add(credential)
        ctx.session.flush()
        self._audit(ctx, self.created, credential, details)

    def end(self, ctx: Context, public_id: str, details: Callable[[C], Mapping[str, object]]) -> C:
        """End the credential `public_id` now, by `ctx`'s actor, and audit it; a second end is
        a Conflict."""
        require_manager(ctx)
        credential = self.get(ctx.session, public_id)
        if getattr(credential, f"{self.ended_column}_at") is not None:
            raise Conflict(self.already_ended)
        setattr(credential, f"{self.ended_column}_at", ctx.now)
        setattr(credential, f"{self.ended_column}_by_id", ctx.actor.staff_id)
        ctx.session.flush()
        self._audit(ctx, self.ended, credential, details(credential))
        return credential

    def _audit(
        self, ctx: Context, action: AuditAction, credential: C, details: Mapping[str, object]
    ) -> None:
        audit.record(
            ctx,
            action,
            (self.subject_type, credential.public_id),
            details={"name": credential.name, **details},
        )


def with_people(
    session: Session, kind: Kind[C], *, order_by: tuple[Any, ...]
) -> list[tuple[C, str, str | None]]:
    """Every credential with the username that created it and the one that ended it
    (DEPLOYMENT_LABEL where no staff member did; None while it is not ended)."""
    model, ended = kind.model, kind.ended_column
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
