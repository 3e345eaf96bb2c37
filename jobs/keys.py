"""The key rotation's jobs: running one rotation, and the periodic run that resumes any
rotation left part-way.

The database is the schedule: a rotation row (`recordings.key_rotation.KeyRotation`) records
its phase and id cursor, committed with each batch, so a worker killed mid-rotation (kill -9
included) loses at most one batch, which the next run redoes; every step is idempotent. Redis
only carries the request "rotate now", with the rotation's public id; the periodic run finds
an unfinished rotation itself, so a lost enqueue or a killed worker only waits for the next
tick.

A worker resumes only rotations to its own keyring's newest version: a rotation to another
version (its key not yet rolled out to this worker) is left for a worker that has it.
"""

from __future__ import annotations

import logging

from cs_register.db import utcnow
from jobs.context import current_job_id, job_database, job_runtime
from jobs.queue import RecordJob
from jobs.resume import run_each
from recordings.key_rotation import run_rotation, unfinished_rotations

log = logging.getLogger(__name__)

ROTATIONS_JOB_PREFIX = "key-rotations"
# Re-sealing copies every recording object once: a large archive takes a while. A job RQ
# stops at the timeout is harmless (the next run resumes), but finishing in one go is better.
ROTATION_JOB_TIMEOUT_SECONDS = 6 * 3600


def rotate_keys_job(rotation_public_id: str) -> dict[str, int]:
    """Carry the rotation on to its end; counts only in the result."""
    runtime = job_runtime()
    rotation = run_rotation(
        job_database(runtime.settings),
        runtime.keyring,
        runtime.storage,
        rotation_public_id,
        clock=utcnow,
        job_id=current_job_id(),
    )
    if rotation is None:
        return {"finished": 0, "rows": 0, "objects": 0}
    log.info(
        "key rotation %s to version %d: %s",
        rotation.public_id,
        rotation.target_version,
        rotation.phase,
    )
    return {
        "finished": int(rotation.finished_at is not None),
        "rows": rotation.rows_done,
        "objects": rotation.objects_done,
    }


# Asks a worker to run (or resume) the rotation now; the periodic run would, later.
KEY_ROTATION = RecordJob(rotate_keys_job, "key-rotation", ROTATION_JOB_TIMEOUT_SECONDS)


def key_rotations_job(tick: str | None = None) -> dict[str, int]:
    """Resume every unfinished rotation to this worker's newest key version (idempotent)."""
    runtime = job_runtime()
    database = job_database(runtime.settings)
    with database.session_factory() as session:
        waiting = unfinished_rotations(session, runtime.keyring.current_version)

    def rotate(public_id: str) -> bool:
        rotation = run_rotation(
            database,
            runtime.keyring,
            runtime.storage,
            public_id,
            clock=utcnow,
            job_id=current_job_id(),
        )
        return rotation is not None and rotation.finished_at is not None

    finished, failed = run_each(waiting, rotate, what="key rotation")
    log.info("key rotations %s: finished=%d failed=%d", tick or "-", finished, failed)
    return {"finished": finished, "failed": failed}
