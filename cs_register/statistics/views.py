"""The anonymised statistics page and its CSV download (supervisors and the DPO)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, render_template, request

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.clock import local_today
from cs_register.db import get_session
from cs_register.errors import translated
from cs_register.identifiers import whole_number
from cs_register.permissions import Permission
from cs_register.statistics import disclosure, report
from cs_register.web import now, requires, staff_context

blueprint = Blueprint("statistics", __name__, template_folder="templates")

RANGES = (30, 90, 365, 730)
DEFAULT_RANGE = 90


def _choices() -> tuple[str, int]:
    """The period and range asked for; anything else in the query (a hand-edited address)
    shows the defaults rather than an error: the page offers only the valid choices."""
    period = request.args.get("period", "day")
    if period not in report.PERIODS:
        period = "day"
    days = whole_number(request.args.get("days"), minimum=1, maximum=max(RANGES)) or DEFAULT_RANGE
    return period, days if days in RANGES else DEFAULT_RANGE


def _figures(period: str, days: int) -> list[report.Figure]:
    last = local_today(now()) - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    return report.figures(get_session(), first=first, last=last, period=period)


def _chart(figure: report.Figure) -> dict[str, Any]:
    """The figure's chart data, its series named in the reader's language (the legend)."""
    chart = figure.chart()
    for dataset in chart["datasets"]:
        dataset["label"] = translated(dataset["label"])
    return chart


@blueprint.get("/statistics")
@requires(Permission.VIEW_STATISTICS)
def statistics_page() -> Any:
    period, days = _choices()
    figures = _figures(period, days)
    return render_template(
        "statistics/page.html",
        figures=figures,
        charts={figure.metric: json.dumps(_chart(figure)) for figure in figures},
        period=period,
        days=days,
        ranges=RANGES,
        min_cell=disclosure.MIN_CELL,
    )


@blueprint.get("/statistics.csv")
@requires(Permission.VIEW_STATISTICS)
def statistics_csv() -> Any:
    period, days = _choices()
    buffer = io.StringIO()
    csv.writer(buffer).writerows(report.csv_rows(_figures(period, days)))
    audit.record(
        staff_context(), AuditAction.STATISTICS_DOWNLOADED, details={"period": period, "days": days}
    )
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="statistics-{period}-{days}d.csv"'},
    )
