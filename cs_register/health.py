"""Liveness for load balancers: public, and tells nothing beyond 'up' and 'database reachable'."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify
from sqlalchemy.exc import SQLAlchemyError

from cs_register.db import get_session, mark_request_failed

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health() -> Any:
    try:
        get_session().execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        mark_request_failed()
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
