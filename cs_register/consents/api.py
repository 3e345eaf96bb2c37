"""The marketing system's feed: `GET /api/v1/marketing/changes?after=<cursor>&limit=<n>`.

Bearer token with the `marketing` scope (`cs_register.integrations.auth`); an intake token is
refused with 403, and a marketing token cannot reach the intake endpoints. The answer lists
the changes after the cursor, oldest first, and `next_cursor` to ask with next (the same
cursor when there is nothing new): every change is returned exactly once to a reader that
always continues from `next_cursor` (`cs_register.consents.feed`). Each read is audited with
the cursor range and count, since it hands out email addresses and phone numbers.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify, request

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.consents import feed
from cs_register.db import get_session
from cs_register.errors import ValidationFailed
from cs_register.identifiers import whole_number
from cs_register.integrations.auth import current_integration, install_token_auth
from cs_register.integrations.models import TokenScope
from cs_register.languages import N_, Message
from cs_register.permissions import Actor
from cs_register.web import request_context

blueprint = Blueprint("marketing_api", __name__, url_prefix="/api/v1/marketing")
install_token_auth(blueprint, TokenScope.MARKETING)

_CURSOR = re.compile(r"0|[1-9][0-9]{0,18}")
_MAX_CURSOR = 2**63 - 1


def _query() -> tuple[int, int]:
    errors: dict[str, list[str]] = {}
    # Exactly a cursor as we hand it out (no leading zeros), within a 64-bit integer.
    raw_after = request.args.get("after", "0").strip()
    after = (
        whole_number(raw_after, minimum=0, maximum=_MAX_CURSOR)
        if _CURSOR.fullmatch(raw_after)
        else None
    )
    if after is None:
        errors["after"] = [N_("Give the next_cursor of the previous answer, or 0 to start.")]
    limit = whole_number(
        request.args.get("limit", str(feed.DEFAULT_PAGE)), minimum=1, maximum=feed.MAX_PAGE
    )
    if limit is None:
        errors["limit"] = [
            Message("Give a whole number from 1 to %(maximum)d.", maximum=feed.MAX_PAGE)
        ]
    unknown = sorted(set(request.args) - {"after", "limit"})
    if unknown:
        errors["query"] = [Message("Unknown parameter: %(names)s.", names=", ".join(unknown)[:100])]
    if errors or after is None or limit is None:
        raise ValidationFailed(errors)
    return after, limit


@blueprint.get("/changes")
def list_changes() -> Any:
    after, limit = _query()
    session = get_session()
    entries = feed.changes_after(session, after=after, limit=limit + 1)
    page, has_more = entries[:limit], len(entries) > limit
    next_cursor = page[-1].cursor if page else after
    if page:
        ctx = request_context(Actor.for_integration(current_integration().name))
        audit.record(
            ctx,
            AuditAction.MARKETING_FEED_READ,
            details={"after": after, "through": next_cursor, "changes": len(page)},
        )
    return jsonify(
        {
            "changes": [entry.as_json() for entry in page],
            "next_cursor": str(next_cursor),
            "has_more": has_more,
        }
    )
