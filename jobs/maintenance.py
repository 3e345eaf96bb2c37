"""Housekeeping jobs. Each entry point opens its own unit of work and returns counts only."""

from __future__ import annotations

import logging

from cs_register.db import utcnow
from cs_register.staff.sessions import purge_expired_sessions
from cs_register.staff.sign_ins import purge_old_sign_ins
from jobs.context import job_settings, session_policy, unit_of_work

log = logging.getLogger(__name__)


def purge_expired_staff_sessions_job() -> dict[str, int]:
    """Delete staff session rows that are revoked or past their absolute lifetime.

    Idempotent, so a duplicate or retried run is harmless. Returns `{"purged": n}`.
    """
    settings = job_settings()
    with unit_of_work(settings) as session:
        purged = purge_expired_sessions(session, now=utcnow(), policy=session_policy(settings))
    log.info("purged %d expired staff sessions", purged)
    return {"purged": purged}


def purge_webhook_deliveries_job() -> dict[str, int]:
    """Forget chatbot webhook deliveries older than the replay window.

    A delivery record only exists to answer a replayed webhook id with the original result;
    after the window it is dead weight. Idempotent. Returns `{"purged": n}`.
    """
    from cs_register.intake.chatbot import purge_webhook_deliveries

    settings = job_settings()
    with unit_of_work(settings) as session:
        purged = purge_webhook_deliveries(session, now=utcnow())
    log.info("purged %d old webhook delivery records", purged)
    return {"purged": purged}


def purge_old_sign_ins_job() -> dict[str, int]:
    """Delete sign-in records (with their source addresses) once 45 days old. Idempotent."""
    settings = job_settings()
    with unit_of_work(settings) as session:
        purged = purge_old_sign_ins(session, now=utcnow())
    log.info("purged %d sign-in records past 45 days", purged)
    return {"purged": purged}
