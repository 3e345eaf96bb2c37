"""The periodic runs' rule for the records they pick up: one failing does not stop the rest.

A periodic run (exports, erasures, key rotations) goes through every record the database says
is waiting. Each record's step is idempotent and leaves its row where the next run finds it,
so a failure is counted and the run carries on with the next record instead of leaving them
all for the next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)


def run_each(
    public_ids: Iterable[str],
    step: Callable[[str], bool],
    *,
    what: str,
    log_failure: bool = True,
) -> tuple[int, int]:
    """Run `step` on each record; returns (how many it finished, how many failed).

    `log_failure=False` is for a step that logs its own failure: the traceback of a foreign
    exception may quote the record's data, which such a step keeps out of the log.
    """
    finished = failed = 0
    for public_id in public_ids:
        try:
            finished += int(step(public_id))
        except Exception:
            if log_failure:
                log.exception("%s %s stopped; the next run resumes it", what, public_id)
            failed += 1
    return finished, failed
