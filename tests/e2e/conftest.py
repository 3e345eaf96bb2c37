"""The browser leg's closing line: where its screenshots are."""

from __future__ import annotations

import pytest

from tests.support.browser import SCREENSHOTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ran = any(
        getattr(report, "nodeid", "").startswith("tests/e2e/")
        for reports in terminalreporter.stats.values()
        for report in reports
    )
    if ran and SCREENSHOTS.is_dir():
        shots = len(list(SCREENSHOTS.glob("*.png")))
        terminalreporter.write_line(
            f"Browser leg: {shots} full-page screenshots in {SCREENSHOTS}"
            f" (axe-core's findings: {SCREENSHOTS.parent / 'axe-report.txt'})"
        )
