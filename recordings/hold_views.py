"""The supervisors' holds dashboard (`/holds`): the holds ending soon, and every hold in force
a page at a time, filtered by reason and by how soon the hold ends. Added to the recordings
blueprint by `register`, so its endpoint keeps the blueprint's name."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for

from cs_register.identifiers import whole_number
from cs_register.permissions import Permission
from cs_register.web import requires, staff_context
from recordings import hold_dashboard
from recordings.models import HoldReason
from recordings.web import current_policy

# Read at request time, so tests can make pages small.
PAGE_SIZE = 50
ENDING_SOON_DAYS = 14


def register(blueprint: Blueprint) -> None:
    blueprint.add_url_rule("/holds", view_func=holds_dashboard, methods=["GET"])


def _filters() -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The dashboard's filters from the query string, and a message per refused one."""
    errors: dict[str, list[str]] = {}
    raw_reason = request.args.get("reason") or ""
    reason = None
    if raw_reason:
        try:
            reason = HoldReason(raw_reason)
        except ValueError:
            errors["reason"] = ["Hold reason: choose quality development or complaint."]
    raw_within = request.args.get("ending_within") or ""
    ending_within = None
    if raw_within:
        ending_within = whole_number(
            raw_within, minimum=1, maximum=hold_dashboard.MAX_ENDING_WITHIN_DAYS
        )
        if ending_within is None:
            errors["ending_within"] = [
                "Ending within: a number of days from 1 to"
                f" {hold_dashboard.MAX_ENDING_WITHIN_DAYS}."
            ]
    return {"reason": reason, "ending_within": ending_within}, errors


def _query(filters: dict[str, Any]) -> dict[str, Any]:
    """The filters as query-string values, for links that keep them."""
    values = {
        "reason": filters["reason"].value if filters["reason"] is not None else None,
        "ending_within": filters["ending_within"],
    }
    return {name: str(value) for name, value in values.items() if value}


@requires(Permission.MANAGE_HOLDS)
def holds_dashboard() -> Any:
    filters, errors = _filters()
    after = request.args.get("after") or None
    ending_soon: list[hold_dashboard.HoldRow] = []
    rows: list[hold_dashboard.HoldRow] = []
    total = 0
    next_url = None
    if not errors:
        ctx, policy = staff_context(), current_policy()
        # The warning section follows the reason filter; its window is always the same.
        ending_soon = hold_dashboard.holds_ending_soon(
            ctx, policy=policy, days=ENDING_SOON_DAYS, reason=filters["reason"]
        )
        page = hold_dashboard.list_holds(
            ctx,
            policy=policy,
            reason=filters["reason"],
            ending_within_days=filters["ending_within"],
            after=after,
            limit=PAGE_SIZE,
        )
        rows = page.rows
        total = hold_dashboard.count_holds(
            ctx, reason=filters["reason"], ending_within_days=filters["ending_within"]
        )
        if page.next_after:
            next_url = url_for(
                "recordings.holds_dashboard", **_query(filters), after=page.next_after
            )
    return render_template(
        "recordings/holds.html",
        rows=rows,
        total=total,
        ending_soon=ending_soon,
        ending_soon_days=ENDING_SOON_DAYS,
        filters=filters,
        query=_query(filters),
        errors=errors,
        reasons=list(HoldReason),
        max_ending_within=hold_dashboard.MAX_ENDING_WITHIN_DAYS,
        paged=after is not None,
        next_url=next_url,
    ), (422 if errors else 200)
