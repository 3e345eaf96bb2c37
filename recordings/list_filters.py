"""The filters of the supervisors' list pages (`/recordings` and `/holds`): read from the query
string, refused with a message each, and written back into the links that keep them.

Both pages filter by hold reason and by a number of days, page by keyset (`after`) and answer
422 with their messages when a filter is refused, so a hand-edited URL gets the same treatment
on either page. No filter carries personal data, so keeping them in URLs is fine.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import render_template, request, url_for

from cs_register.identifiers import whole_number
from recordings.models import HoldReason

Errors = dict[str, list[str]]


def hold_reason(errors: Errors) -> HoldReason | None:
    """The `reason` filter; a value that is no hold reason adds its message to `errors`."""
    raw = request.args.get("reason") or ""
    if not raw:
        return None
    try:
        return HoldReason(raw)
    except ValueError:
        errors["reason"] = ["Hold reason: choose quality development or complaint."]
        return None


def days_within(name: str, label: str, *, maximum: int, errors: Errors) -> int | None:
    """The filter `name`, a number of days from 1 to `maximum`; anything else adds its message
    (starting with `label`) to `errors`."""
    raw = request.args.get(name) or ""
    if not raw:
        return None
    days = whole_number(raw, minimum=1, maximum=maximum)
    if days is None:
        errors[name] = [f"{label}: a number of days from 1 to {maximum}."]
    return days


def query_values(filters: dict[str, Any]) -> dict[str, str]:
    """The filters as query-string values, for links that keep them; unset ones left out."""
    values = {
        name: value.value if isinstance(value, enum.Enum) else value
        for name, value in filters.items()
    }
    return {name: str(value) for name, value in values.items() if value}


@dataclass(frozen=True)
class FilteredList:
    """One request for a list page: its filters, a message per refused one, and the keyset
    position (`after`) of the page asked for."""

    filters: dict[str, Any]
    errors: Errors
    after: str | None

    @classmethod
    def from_request(cls, read_filters: Callable[[Errors], dict[str, Any]]) -> FilteredList:
        """`read_filters` reads the page's own filters, adding a message per refused one."""
        errors: Errors = {}
        filters = read_filters(errors)
        return cls(filters=filters, errors=errors, after=request.args.get("after") or None)

    def render(self, template: str, next_after: str | None, **values: Any) -> tuple[str, int]:
        """The page with its filters, the links that keep them (the next page's too, on this
        page's endpoint) and the refusals, with 422 when there are any."""
        query = query_values(self.filters)
        next_url = None
        if next_after and request.endpoint:
            # Any: url_for's own keywords (_external, ...) are not strings.
            link: dict[str, Any] = {**query, "after": next_after}
            next_url = url_for(request.endpoint, **link)
        html = render_template(
            template,
            filters=self.filters,
            query=query,
            errors=self.errors,
            reasons=list(HoldReason),
            paged=self.after is not None,
            next_url=next_url,
            **values,
        )
        return html, (422 if self.errors else 200)
