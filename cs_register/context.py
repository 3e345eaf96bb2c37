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

    def acting_as(self, actor: Actor) -> Context:
        """The same unit of work, attributed to `actor` (a login attributes its audit row to
        the account that logged in, though the request came in anonymous)."""
        return replace(self, actor=actor)

    def at(self, now: datetime) -> Context:
        """The same unit of work at another instant (tests, and jobs that step through time)."""
        return replace(self, now=now)


def job_context(session: Session, *, job_id: str | None, now: datetime) -> Context:
    """A background job's unit of work: the job acts (or "system" outside RQ), and its id
    stands in for the request id of the rows it writes (the column holds 64 characters)."""
    return Context(
        session=session,
        actor=Actor.for_job(job_id),
        now=now,
        request_id=job_id[:64] if job_id else None,
    )
