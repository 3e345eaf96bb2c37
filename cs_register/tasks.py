"""Handing work to the background workers from a request, without importing the jobs.

The web app sits below `jobs` in the layers, so `create_app` installs the one function that
puts a job on the queue (`install`), and a view asks for it by name (`submit`). The database
is the schedule: a periodic job also picks up whatever was asked for and never reached the
queue (Redis down, or no Redis configured), so `submit` failing delays work but loses none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, current_app

log = logging.getLogger(__name__)

BUILD_PRIVACY_EXPORT = "build_privacy_export"
ERASE_CUSTOMER = "erase_customer"
ROTATE_KEYS = "rotate_keys"
_EXTENSION = "cs_register.tasks"


def install(app: Flask, name: str, submitter: Callable[[str], object]) -> None:
    app.extensions.setdefault(_EXTENSION, {})[name] = submitter


def submit(name: str, public_id: str) -> bool:
    """Queue task `name` for the row `public_id` now; False when it waits for the next tick."""
    submitter = current_app.extensions.get(_EXTENSION, {}).get(name)
    if submitter is None:
        return False
    try:
        submitter(public_id)
    except Exception:
        # Redis unreachable: the periodic job will find the row; the page must not fail.
        log.warning("could not queue %s for %s; the next periodic run picks it up", name, public_id)
        return False
    return True
