"""The supervisors' retention overview page (`/recordings/overview`): three charts, each with
its figures as a table beneath (the table is what works without JavaScript). The chart data
travels in a `data-chart` attribute and `static/charts.js` draws it with the
vendored Chart.js, so the page needs no inline script under the console's CSP. Added to the
recordings blueprint by `register`, so its endpoint keeps the blueprint's name."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, render_template

from cs_register.permissions import Permission
from cs_register.web import requires, staff_context
from recordings import overview
from recordings.web import current_policy


def register(blueprint: Blueprint) -> None:
    blueprint.add_url_rule("/recordings/overview", view_func=retention_overview, methods=["GET"])


@requires(Permission.MANAGE_HOLDS)
def retention_overview() -> Any:
    figures = overview.retention_overview(staff_context(), policy=current_policy())
    shown = [figures.due, figures.cap, figures.purges]
    return render_template(
        "recordings/overview.html",
        overview=figures,
        figures=shown,
        charts={figure.key: json.dumps(figure.chart()) for figure in shown},
    )
