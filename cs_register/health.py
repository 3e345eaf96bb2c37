"""Health for load balancers and orchestrators: public, and telling nothing beyond "up" and
which dependency is down.

- `/healthz` (liveness): the process answers. No database, no Redis: a liveness probe that
  fails when a dependency is down would restart healthy web processes in a loop.
- `/readyz` (readiness): the database, the recording storage and, when the deployment has a
  job queue, Redis answer. 503 with each check's state when any does not, so a load balancer
  sends no traffic here until they do. Checks beyond the database are registered by
  `create_app` (`add_readiness_check`), as Redis belongs to the jobs layer above this one.
- `/health`: the older liveness-with-database endpoint, kept for existing load balancers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from cs_register.db import get_session, mark_request_failed
from recordings.web import current_storage

blueprint = Blueprint("health", __name__)
log = logging.getLogger(__name__)

_CHECKS = "cs_register.readiness_checks"
# A check answers True when its dependency is reachable; raising counts as unreachable.
ReadinessCheck = Callable[[], bool]


def add_readiness_check(app: Flask, name: str, check: ReadinessCheck) -> None:
    app.extensions.setdefault(_CHECKS, {})[name] = check


@blueprint.get("/health")
def health() -> Any:
    try:
        get_session().execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        mark_request_failed()
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


@blueprint.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


def _database_reachable() -> bool:
    try:
        get_session().execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        mark_request_failed()
        return False
    return True


@blueprint.get("/readyz")
def readyz() -> Any:
    states = {"database": "ok" if _database_reachable() else "unreachable"}
    checks = {"storage": current_storage().reachable, **current_app.extensions.get(_CHECKS, {})}
    for name, check in checks.items():
        try:
            reachable = check()
        except Exception:  # noqa: BLE001 - any failure of a probe means "not ready"
            log.warning("readiness check %s failed", name, exc_info=True)
            reachable = False
        states[name] = "ok" if reachable else "unreachable"
    ready = all(state == "ok" for state in states.values())
    return jsonify(status="ok" if ready else "unavailable", **states), 200 if ready else 503
