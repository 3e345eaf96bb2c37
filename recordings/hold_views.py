"""The supervisors' holds dashboard (`/holds`): the holds ending soon, and every hold in force
a page at a time, filtered by reason and by how soon the hold ends. Added to the recordings
blueprint by `register`, so its endpoint keeps the blueprint's name."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from cs_register.permissions import Permission
from cs_register.web import requires, staff_context
from recordings import hold_dashboard, list_filters
from recordings.web import current_policy

# Read at request time, so tests can make pages small.
PAGE_SIZE = 50
ENDING_SOON_DAYS = 14


def register(blueprint: Blueprint) -> None:
    blueprint.add_url_rule("/holds", view_func=holds_dashboard, methods=["GET"])


def _filters(errors: list_filters.Errors) -> dict[str, Any]:
    """The dashboard's filters from the query string."""
    return {
        "reason": list_filters.hold_reason(errors),
        "ending_within": list_filters.days_within(
            "ending_within",
            "Ending within",
            maximum=hold_dashboard.MAX_ENDING_WITHIN_DAYS,
            errors=errors,
        ),
    }


@requires(Permission.MANAGE_HOLDS)
def holds_dashboard() -> Any:
    view = list_filters.FilteredList.from_request(_filters)
    filters = view.filters
    ending_soon: list[hold_dashboard.HoldRow] = []
    rows: list[hold_dashboard.HoldRow] = []
    total = 0
    next_after = None
    if not view.errors:
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
            after=view.after,
            limit=PAGE_SIZE,
        )
        rows = page.rows
        total = hold_dashboard.count_holds(
            ctx, reason=filters["reason"], ending_within_days=filters["ending_within"]
        )
        next_after = page.next_after
    return view.render(
        "recordings/holds.html",
        next_after,
        rows=rows,
        total=total,
        ending_soon=ending_soon,
        ending_soon_days=ENDING_SOON_DAYS,
        max_ending_within=hold_dashboard.MAX_ENDING_WITHIN_DAYS,
    )
