"""Building the `Context` a service runs in, as tests need it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cs_register.context import Context
from cs_register.permissions import Actor


def actor_for(actor: Any) -> Actor:
    """A staff account (or an `Actor` as is); None stands for the deployment's command line."""
    if actor is None:
        return Actor.deployment()
    if isinstance(actor, Actor):
        return actor
    return Actor.for_staff(actor)


def make_context(
    session: Session, actor: Any, now: datetime, request_id: str | None = None
) -> Context:
    return Context(session=session, actor=actor_for(actor), now=now, request_id=request_id)
