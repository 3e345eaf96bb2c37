"""The data-subject rights' jobs: building one export, carrying out one erasure, and the
periodic runs that build whatever export is waiting, delete exports past their time, and
finish every erasure left part-way.

The database is the schedule: an export row waits as `queued` until a build claims it, so a
lost enqueue (Redis down when the DPO asked) only waits for the next tick, and a build killed
mid-way is claimed again once it is stale (`cs_register.privacy.export.STALE_BUILD`). An
erasure case stays `erasing` until its last transaction, so a worker killed mid-erasure is
followed by the next periodic run (`cs_register.privacy.erasure`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from cs_register.context import job_context
from cs_register.db import utcnow
from cs_register.privacy.downloads import delete_expired_exports
from cs_register.privacy.erasure import carry_out_erasure, erasures_to_resume
from cs_register.privacy.export import STALE_BUILD, ExportInputs, build_export, exports_to_build
from cs_register.runtime import Runtime
from cs_register.sources import build_registry
from jobs.context import current_job_id, job_database, job_runtime
from jobs.queue import RecordJob
from jobs.resume import run_each

log = logging.getLogger(__name__)

EXPORTS_JOB_PREFIX = "privacy-exports"
ERASURES_JOB_PREFIX = "privacy-erasures"
# A large recording archive takes a while to copy into the ZIP.
EXPORT_JOB_TIMEOUT_SECONDS = 3600


def export_inputs(runtime: Runtime) -> ExportInputs:
    return ExportInputs(
        registry=build_registry(runtime),
        keyring=runtime.keyring,
        exports=runtime.exports,
        retention=timedelta(days=runtime.settings.privacy_export_days),
    )


def build_privacy_export_job(export_public_id: str) -> dict[str, int]:
    runtime = job_runtime()
    export = build_export(
        job_database(runtime.settings),
        export_inputs(runtime),
        export_public_id=export_public_id,
        now=utcnow,
        job_id=current_job_id(),
    )
    return {"built": int(export is not None)}


# Asks a worker to build the export now (the periodic run would, a little later).
PRIVACY_EXPORT = RecordJob(build_privacy_export_job, "privacy-export", EXPORT_JOB_TIMEOUT_SECONDS)


def privacy_exports_job(tick: str | None = None) -> dict[str, int]:
    """Build every export still waiting, then delete the expired ones (idempotent)."""
    runtime = job_runtime()
    database = job_database(runtime.settings)
    inputs = export_inputs(runtime)
    with database.session_factory() as session:
        waiting = exports_to_build(session, now=utcnow())

    def build(public_id: str) -> bool:
        export = build_export(
            database, inputs, export_public_id=public_id, now=utcnow, job_id=current_job_id()
        )
        return export is not None

    # build_export logs a failure itself (ids only) and marks the export failed.
    built, failed = run_each(waiting, build, what="privacy export", log_failure=False)
    with database.unit_of_work() as session:
        deleted = delete_expired_exports(
            job_context(session, job_id=current_job_id(), now=utcnow()), runtime.exports
        )
    # A build killed mid-way left its partial ZIP in the scratch area; a live one is younger.
    runtime.exports.remove_abandoned_staging(older_than=utcnow() - STALE_BUILD)
    log.info(
        "privacy exports %s: built=%d failed=%d deleted=%d", tick or "-", built, failed, deleted
    )
    return {"built": built, "failed": failed, "deleted": deleted}


def erase_customer_job(request_public_id: str) -> dict[str, int]:
    runtime = job_runtime()
    outcome = carry_out_erasure(
        job_database(runtime.settings),
        build_registry(runtime),
        public_id=request_public_id,
        now=utcnow,
        job_id=current_job_id(),
    )
    return {"erased": int(outcome is not None)}


# Asks a worker to carry out the erasure now (the periodic run would, a little later).
ERASURE = RecordJob(erase_customer_job, "privacy-erasure", EXPORT_JOB_TIMEOUT_SECONDS)


def privacy_erasures_job(tick: str | None = None) -> dict[str, int]:
    """Finish every erasure that is waiting or was stopped part-way (idempotent)."""
    runtime = job_runtime()
    database = job_database(runtime.settings)
    registry = build_registry(runtime)
    with database.session_factory() as session:
        waiting = erasures_to_resume(session)

    def erase(public_id: str) -> bool:
        outcome = carry_out_erasure(
            database, registry, public_id=public_id, now=utcnow, job_id=current_job_id()
        )
        return outcome is not None

    erased, failed = run_each(waiting, erase, what="erasure of request")
    log.info("privacy erasures %s: erased=%d failed=%d", tick or "-", erased, failed)
    return {"erased": erased, "failed": failed}
