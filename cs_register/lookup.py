"""Finding one row by its public id, the way every service does: the row, or `NotFound` with
a message that names what was looked for (never the id: it may have come from a URL someone
guessed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import ORMOption

from cs_register.db import Base
from cs_register.errors import NotFound

ModelT = TypeVar("ModelT", bound=Base)


def by_public_id(
    session: Session,
    model: type[ModelT],
    public_id: str,
    *,
    missing: str,
    options: Sequence[ORMOption] = (),
) -> ModelT:
    """The `model` row whose public id is `public_id`; `missing` is the `NotFound` message."""
    found = session.scalar(sa.select(model).filter_by(public_id=public_id).options(*options))
    if found is None:
        raise NotFound(missing)
    return found
