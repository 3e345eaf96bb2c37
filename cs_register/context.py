"""The unit of work every service runs in: one session, one actor, one instant, one request.

A request, a job and a command each build exactly one `Context` and hand it to the services
they call. Services read the time from `ctx.now` (never from a clock of their own), so a test
can stand at a retention boundary to the second; they write their audit row through
`ctx.session`, so it commits or rolls back with the change it describes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from cs_register.permissions import Actor


@dataclass(frozen=True)
class Context:
    session: Session
    actor: Actor
    now: datetime
    # The request's id (or the job's), so log lines and audit rows of one unit of work join up.
    request_id: str | None = None

    def at(self, now: datetime) -> Context:
        """The same unit of work at another instant (tests, and jobs that step through time)."""
        return replace(self, now=now)
